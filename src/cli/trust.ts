import { hostContext } from "../actions/context.ts";
import { resolveProject } from "../actions/project.ts";
import { parseProjectFile, readProjectFileText } from "../actions/projectfile.ts";
import { CmError } from "../errors.ts";
import { parse, tooMany } from "./args.ts";

export const usage = `Usage: cm trust [--show | --revoke]

Approve this project's cm.toml. cm uses a project file only once you approved its exact content
at this place: a container, a git pull or a cloned repository can write cm.toml, and its keys
(runtime, volumes, env, network, limits) decide what a run may do. A new or changed file is not
used: an interactive cm shows it and asks, otherwise cm refuses to run (exit 125) until you run
cm trust. Approvals are kept in $CM_CONFIG_DIR (default ~/.config/cm)/trusted, by the file's
real path and the sha256 of its content. CM_TRUST_ALL=1 in your environment turns this off.

Options:
  --show     print whether it is approved; if not, the file (or what changed since the approval)
  --revoke   withdraw the approval
  -h, --help show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("trust", argv, { show: { type: "boolean" }, revoke: { type: "boolean" } });
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("trust", [...p.positionals, ...p.rest]);
  if (p.values.show && p.values.revoke)
    throw new CmError("usage", "trust: --show and --revoke cannot be combined", { hint: "give one of them" });
  const ctx = hostContext();
  const project = resolveProject(ctx, undefined, { cwdIsProject: false });
  const trust = await import("../store/trust.ts");
  const place = { config: ctx.layout.config, uid: ctx.uid, env: process.env };
  const file = readProjectFileText(project.path);
  if (p.values.revoke) {
    const path = `${project.path}/cm.toml`;
    const had = await trust.revoke(place, file?.path ?? path);
    process.stdout.write(had ? `revoked ${file?.path ?? path}\n` : `${file?.path ?? path} was not trusted\n`);
    return 0;
  }
  if (!file) throw new CmError("no-project-file", `no cm.toml in ${project.path}`, { hint: "cd into the project that has one" });
  const state = await trust.trustState({ ...place, env: {} }, file.path, file.text);
  if (p.values.show) {
    if (state.state === "trusted") {
      process.stdout.write(`${file.path}: trusted (approved ${state.record.approved})\n`);
    } else if (state.state === "changed") {
      process.stdout.write(`${file.path}: changed since approved ${state.record.approved} (- approved, + now):\n`);
      process.stdout.write(`${trust.lineDiff(state.record.text, file.text).join("\n")}\n`);
    } else {
      process.stdout.write(`${file.path}: not trusted:\n${file.text}${file.text.endsWith("\n") ? "" : "\n"}`);
    }
    if (process.env[trust.TRUST_ALL_ENV] === "1") process.stdout.write(`(${trust.TRUST_ALL_ENV}=1 is set: cm uses every project file)\n`);
    return 0;
  }
  await parseProjectFile(file, project.path); // an invalid file is reported, not approved
  await trust.approve(place, file.path, file.text);
  process.stdout.write(`trusted ${file.path}\n`);
  return 0;
}
