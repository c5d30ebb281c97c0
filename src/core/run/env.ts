/**
 * Environment for a run: `-e KEY=VALUE`, `-e KEY` (the host's value), `--env-file FILE`. Pure: the
 * host environment and the file's text come in as arguments. The host environment is never passed
 * through as a whole: only the variables named here.
 */
import { CmError } from "../../errors.ts";

/** POSIX shell names: what a shell inside can use. */
const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type HostEnv = Record<string, string | undefined>;

/** One `-e` argument -> "KEY=VALUE"; `KEY` alone takes the host's value and must be set there. */
export function parseEnvArg(arg: string, host: HostEnv, where = "--env", fromFile = false): string {
  const eq = arg.indexOf("=");
  const key = eq < 0 ? arg : arg.slice(0, eq);
  if (!KEY.test(key)) {
    // a file's line is not echoed: it may be anything (a secret, if the wrong file was named)
    const what = fromFile ? "is not KEY=VALUE or KEY: invalid variable name" : `invalid variable name ${JSON.stringify(key)}`;
    throw new CmError("bad-env", `${where}: ${what}`, {
      hint: "give KEY=VALUE or KEY, where KEY is letters, digits and '_', not starting with a digit",
    });
  }
  if (arg.includes("\0")) throw new CmError("bad-env", `${where}: ${key} contains a NUL byte`);
  if (eq >= 0) return arg;
  const value = host[key];
  if (value === undefined) {
    throw new CmError("bad-env", `${where}: ${key} is not set in your environment`, {
      hint: `set it (export ${key}=...), or give a value: --env ${key}=VALUE`,
    });
  }
  return `${key}=${value}`;
}

/**
 * An env file: one `KEY=VALUE` or `KEY` per line (as docker reads them: no quotes are removed, the
 * value is everything after the first '='), blank lines and lines starting with '#' ignored.
 * Errors name `file:line`.
 */
export function parseEnvFile(text: string, file: string, host: HostEnv): string[] {
  const out: string[] = [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const trimmed = line.trimStart();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    out.push(parseEnvArg(trimmed, host, `${file}:${i + 1}`, true));
  });
  return out;
}

/**
 * The one environment merge (run options, image config, spec): KEY=VALUE entries over a base; a
 * later entry of a key replaces the earlier one and takes its place at the end (so the order says
 * which layer set it). Entries without '=' or with an empty name are dropped (an image config may
 * have them; the OCI spec requires KEY=VALUE).
 */
export function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const map = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const eq = e.indexOf("=");
    if (eq <= 0) continue;
    const k = e.slice(0, eq);
    map.delete(k);
    map.set(k, e);
  }
  return [...map.values()];
}
