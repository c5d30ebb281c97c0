/**
 * Arguments and environment values that Node could not decode. Node turns every byte sequence
 * that is not valid UTF-8 into U+FFFD, so such a string names another path: in a shared sticky
 * directory (/tmp), another user's `data\uFFFD` stands for the user's own `data\xff`, and cm would
 * mount it, build from it or read an env file from it. cm refuses such a value in one line
 * instead. Checked only when a value holds U+FFFD (nothing to read otherwise); the raw bytes come
 * from /proc/self/cmdline and /proc/self/environ.
 */
import { readFileSync } from "node:fs";
import { escapeControls } from "../core/names.ts";
import { CmError } from "../errors.ts";

/**
 * The environment variables whose values cm uses as paths, or to find programs: the data, state,
 * cache and config directories (core/layout.ts), PATH (host/tools.ts), the host's CA bundle
 * (host/ca.ts, --host-ca) and the registry credentials (image/credentials.ts).
 */
export const PATH_VARIABLES = [
  "HOME",
  "PATH",
  "CM_HOME",
  "CM_STATE_DIR",
  "CM_CACHE_DIR",
  "CM_CONFIG_DIR",
  "XDG_DATA_HOME",
  "XDG_STATE_HOME",
  "XDG_CACHE_HOME",
  "XDG_CONFIG_HOME",
  "XDG_RUNTIME_DIR",
  "TMPDIR",
  // files cm reads for the container's trust and the registries' credentials
  "SSL_CERT_FILE",
  "SSL_CERT_DIR",
  "REGISTRY_AUTH_FILE",
  "DOCKER_CONFIG",
] as const;

/**
 * The index in `args` of the first argument whose UTF-8 encoding is not its raw bytes, given the
 * process's raw command line (`/proc/self/cmdline`: NUL-terminated arguments, whose last
 * `args.length` are `args`); undefined when all round-trip or the command line does not end
 * with as many arguments.
 */
export function undecodableArgument(args: readonly string[], cmdline: Buffer): number | undefined {
  const raw = splitNul(cmdline);
  if (raw.length < args.length) return undefined;
  const tail = raw.slice(raw.length - args.length);
  const i = args.findIndex((a, k) => a.includes("\uFFFD") && !Buffer.from(a).equals(tail[k] as Buffer));
  return i < 0 ? undefined : i;
}

/** The raw value of `name` in `environ` (`/proc/self/environ`); undefined when it is not set there. */
export function rawValue(environ: Buffer, name: string): Buffer | undefined {
  for (const entry of splitNul(environ)) {
    const eq = entry.indexOf(0x3d);
    if (eq > 0 && entry.toString("latin1", 0, eq) === name) return entry.subarray(eq + 1);
  }
  return undefined;
}

/**
 * The host's value of environment variable `name` (`-e NAME`), refused (CmError, exit 125) when it
 * is not valid UTF-8: the container would get U+FFFD in place of its bytes. `value` is
 * process.env's; /proc/self/environ is read only when it holds U+FFFD.
 */
export function checkedEnvValue(name: string, value: string): string {
  if (!value.includes("\uFFFD")) return value;
  let raw: Buffer | undefined;
  try {
    raw = rawValue(readFileSync("/proc/self/environ"), name);
  } catch {
    raw = undefined;
  }
  if (raw !== undefined && utf8(raw) === undefined) {
    throw new CmError(
      "usage",
      `the value of ${name} in your environment is not valid UTF-8 ("${showBytes(raw)}"): the container would get another value`,
      {
        hint: `give it with -e ${name}=VALUE in UTF-8`,
      },
    );
  }
  return value;
}

/** The first of `names` whose value in `environ` (`/proc/self/environ`: NUL-terminated NAME=VALUE) is not valid UTF-8. */
export function undecodableVariable(names: readonly string[], environ: Buffer): string | undefined {
  return names.find((name) => {
    const value = rawValue(environ, name);
    return value !== undefined && utf8(value) === undefined;
  });
}

/**
 * Bytes as text for a message: runs of valid UTF-8 as they are, every other byte as `\\xHH`
 * (`data\\xff`, where Node's string would show `data\uFFFD`).
 */
export function showBytes(bytes: Buffer): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    const len = b < 0x80 ? 1 : b >> 5 === 6 ? 2 : b >> 4 === 14 ? 3 : b >> 3 === 30 ? 4 : 0;
    const seq = len > 0 && i + len <= bytes.length ? bytes.subarray(i, i + len) : undefined;
    const text = seq?.toString("utf8");
    if (seq && text !== undefined && Buffer.from(text).equals(seq)) {
      out += escapeControls(text);
      i += len;
    } else {
      out += `\\x${b.toString(16).padStart(2, "0")}`;
      i++;
    }
  }
  return out;
}

/** `bytes` as a string when they are valid UTF-8; undefined otherwise. */
export function utf8(bytes: Buffer): string | undefined {
  const text = bytes.toString("utf8");
  return Buffer.from(text).equals(bytes) ? text : undefined;
}

/**
 * A path the kernel gave as bytes (realpath, readlink), as a string; refused (CmError "bad-path",
 * exit 125) when it is not valid UTF-8, naming `given`, the path cm was asked about.
 */
export function pathString(bytes: Buffer, given: string): string {
  const text = utf8(bytes);
  if (text === undefined) {
    throw new CmError("bad-path", `${given} leads to "${showBytes(bytes)}", which is not valid UTF-8: cm would take it for another path`, {
      hint: "rename that file or directory to a name in UTF-8",
    });
  }
  return text;
}

function splitNul(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = b.indexOf(0); i >= 0; i = b.indexOf(0, start)) {
    out.push(b.subarray(start, i));
    start = i + 1;
  }
  if (start < b.length) out.push(b.subarray(start));
  return out;
}

/**
 * Refuses (CmError, exit 125) an argument in `args` (cm's, after `cm`) or a PATH_VARIABLES value
 * that is not valid UTF-8; does nothing, and reads nothing, when none holds U+FFFD.
 */
export function refuseUndecodable(args: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  if (args.some((a) => a.includes("\uFFFD"))) {
    let cmdline: Buffer | undefined;
    try {
      cmdline = readFileSync("/proc/self/cmdline");
    } catch {
      cmdline = undefined; // no /proc: nothing to compare with
    }
    const i = cmdline ? undecodableArgument(args, cmdline) : undefined;
    if (i !== undefined && cmdline) {
      const all = splitNul(cmdline);
      const raw = all[all.length - args.length + i] as Buffer;
      throw new CmError("usage", `argument "${showBytes(raw)}" is not valid UTF-8: cm would read it as another name or value`, {
        hint: "give it in UTF-8; for a file or directory, rename it or use a symbolic link whose name is UTF-8",
      });
    }
  }
  if (PATH_VARIABLES.some((n) => env[n]?.includes("\uFFFD"))) {
    let environ: Buffer | undefined;
    try {
      environ = readFileSync("/proc/self/environ");
    } catch {
      environ = undefined;
    }
    const name = environ ? undecodableVariable(PATH_VARIABLES, environ) : undefined;
    if (name !== undefined) {
      throw new CmError(
        "usage",
        `${name} is not valid UTF-8 ("${showBytes(rawValue(environ as Buffer, name) ?? Buffer.alloc(0))}"): cm would read it as another path`,
        {
          hint: `set ${name} to a path whose name is UTF-8`,
        },
      );
    }
  }
}
