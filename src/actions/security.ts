/** Turning `--security-opt` values into what runSpec takes (reads the profile file, off the hot path). */
import { readFileSync } from "node:fs";
import { parseSeccompProfile } from "../core/runtime-spec/seccomp.ts";
import type { Seccomp } from "../core/runtime-spec/types.ts";
import { parseSecurityOpts } from "../core/security-opt.ts";
import { CmError } from "../errors.ts";

const MAX_PROFILE_BYTES = 4 * 1024 * 1024;

/** undefined: keep the bundle's profile; null: unconfined; else the profile from the file. */
export async function seccompOverride(values: string[]): Promise<Seccomp | null | undefined> {
  const { seccomp } = parseSecurityOpts(values);
  if (seccomp.kind === "default") return undefined;
  if (seccomp.kind === "unconfined") return null;
  let text: string;
  try {
    text = readFileSync(seccomp.path, "utf8");
  } catch (err) {
    throw new CmError("bad-seccomp", `cannot read seccomp profile ${seccomp.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, {
      hint: "give the path of a readable JSON file, or seccomp=unconfined",
    });
  }
  if (text.length > MAX_PROFILE_BYTES) throw new CmError("bad-seccomp", `seccomp profile ${seccomp.path} is larger than 4 MiB`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new CmError("bad-seccomp", `seccomp profile ${seccomp.path} is not valid JSON: ${(err as Error).message.split("\n")[0]}`, {
      hint: "fix the file (an OCI linux.seccomp object)",
    });
  }
  return parseSeccompProfile(value, `seccomp profile ${seccomp.path}`);
}
