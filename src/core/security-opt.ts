/**
 * `--security-opt` values (pure parsing): what the user asked for, before any file is read.
 *   seccomp=unconfined   no seccomp filter
 *   seccomp=FILE         an OCI linux.seccomp JSON object read from FILE
 * Without the option, the bundle's stored profile (cm's default) applies.
 */
import { CmError } from "../errors.ts";

export type SeccompChoice = { kind: "default" } | { kind: "unconfined" } | { kind: "file"; path: string };

export function parseSecurityOpts(values: string[]): { seccomp: SeccompChoice } {
  let seccomp: SeccompChoice = { kind: "default" };
  for (const v of values) {
    const eq = v.indexOf("=");
    const key = eq < 0 ? v : v.slice(0, eq);
    const value = eq < 0 ? "" : v.slice(eq + 1);
    if (key !== "seccomp") {
      throw new CmError("usage", `unknown --security-opt ${JSON.stringify(v)}`, { hint: "supported: seccomp=unconfined, seccomp=FILE" });
    }
    if (value === "") {
      throw new CmError("usage", `--security-opt ${JSON.stringify(v)} needs a value`, {
        hint: "seccomp=unconfined or seccomp=/path/to/profile.json",
      });
    }
    seccomp = value === "unconfined" ? { kind: "unconfined" } : { kind: "file", path: value };
  }
  return { seccomp };
}
