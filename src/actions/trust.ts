/**
 * cm trust: approve this project's cm.toml (store/trust.ts keeps approvals by real path and
 * sha256), show whether it is approved (and what changed), or revoke the approval. Output on stdout;
 * resolves to the exit status.
 */

import { escapeControls } from "../core/names.ts";
import { sha256Hex } from "../core/sha256.ts";
import { CmError } from "../errors.ts";
import type { Context } from "./context.ts";
import { resolveProject } from "./project.ts";
import { askToTrust, canAsk, parseProjectFile, readProjectFileText } from "./projectfile.ts";

/**
 * `mode` "approve" with `sha256` (64 hex digits, as `--show` prints it): approves only that
 * content, so what a running container writes between the review and the approval is not what
 * gets approved. Without it, an interactive cm shows a new or changed file and asks (approving
 * the content it showed); otherwise it approves the file as it is and prints its sha256.
 */
export async function trust(ctx: Context, mode: "approve" | "show" | "revoke", sha256?: string): Promise<number> {
  const project = resolveProject(ctx, undefined, { cwdIsProject: false });
  const store = await import("../store/trust.ts");
  const place = { config: ctx.layout.config, uid: ctx.uid, env: process.env };
  const file = readProjectFileText(project.path);
  if (mode === "revoke") {
    const path = `${project.path}/cm.toml`;
    const had = await store.revoke(place, file?.path ?? path);
    const shown = escapeControls(file?.path ?? path);
    process.stdout.write(had ? `revoked ${shown}\n` : `${shown} was not trusted\n`);
    return 0;
  }
  if (!file) throw new CmError("no-project-file", `no cm.toml in ${project.path}`, { hint: "cd into the project that has one" });
  const state = await store.trustState({ ...place, env: {} }, file.path, file.text);
  const digest = sha256Hex(file.text);
  if (mode === "show") {
    const path = escapeControls(file.path);
    if (state.state === "trusted") {
      process.stdout.write(`${path}: trusted (approved ${state.record.approved})\n`);
    } else if (state.state === "changed") {
      process.stdout.write(`${path}: changed since approved ${state.record.approved} (- approved, + now):\n`);
      process.stdout.write(`${store.lineDiff(state.record.text, file.text).join("\n")}\n`);
    } else {
      // as written, but with control characters escaped: the file must not rewrite what is shown
      const lines = file.text.replace(/\n$/, "").split("\n").map(escapeControls);
      process.stdout.write(`${path}: not trusted:\n${lines.join("\n")}\n`);
    }
    if (state.state !== "trusted") process.stdout.write(`to approve exactly this content: cm trust --sha256 ${digest}\n`);
    if (process.env[store.TRUST_ALL_ENV] === "1") process.stdout.write(`(${store.TRUST_ALL_ENV}=1 is set: cm uses every project file)\n`);
    return 0;
  }
  await parseProjectFile(file, project.path); // an invalid file is reported, not approved
  if (sha256 !== undefined) {
    if (digest !== sha256) {
      throw new CmError(
        "untrusted-project-file",
        `${file.path} is not the content you reviewed: its sha256 is now ${digest}; nothing was approved`,
        {
          hint: "review it again: cm trust --show",
        },
      );
    }
  } else if (state.state !== "trusted" && canAsk()) {
    askToTrust(file, state.state === "changed" ? state.record.text : undefined, store.lineDiff, "approve it?", project.path);
  }
  await store.approve(place, file.path, file.text);
  process.stdout.write(`trusted ${escapeControls(file.path)} (sha256 ${digest})\n`);
  return 0;
}
