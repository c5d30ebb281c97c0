/**
 * Docker's credential-helper protocol (github.com/docker/docker-credential-helpers), the `get` half:
 * the program docker-credential-NAME, found on PATH (NAME checked in credentials.ts: never a path),
 * is run as `docker-credential-NAME get` with no shell, the server address on stdin, and answers
 *   {"ServerURL": "...", "Username": "...", "Secret": "..."}
 * on stdout, or exits non-zero saying "credentials not found in native keychain" (then: no
 * credentials). Username "<token>" means Secret is an identity token (an OAuth2 refresh token).
 * The helper gets cm's environment (it may need HOME, DBUS, GNUPGHOME), 30 s and 1 MiB of output;
 * its answer is never shown in an error (it may hold the secret).
 * Loaded only when an auth file names a helper and the registry asks for credentials.
 */
import { spawn } from "node:child_process";
import { accessSync, constants, statSync } from "node:fs";
import { join } from "node:path";
import { CmError } from "../errors.ts";
import { stderrTail, track } from "../host/tools.ts";
import type { Candidate, Credentials } from "./credentials.ts";

type HelperCandidate = Extract<Candidate, { kind: "helper" }>;

const TIMEOUT_MS = 30_000;
const MAX_OUTPUT = 1024 * 1024;
/** after the helper exits, how long its pipes may stay open (a daemon it started may hold them) */
const DRAIN_MS = 1000;
export const TOKEN_USERNAME = "<token>";

export function helperProgram(helper: string): string {
  return `docker-credential-${helper}`;
}

/** The helper's program on PATH (absolute PATH entries only, as a login shell would find it), or undefined. */
export function findHelper(program: string, path: string): string | undefined {
  for (const dir of path.split(":")) {
    if (!dir.startsWith("/")) continue;
    const candidate = join(dir, program);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export type HelperOutcome =
  | { kind: "found"; username: string; secret: string }
  | { kind: "not-found" }
  /** why the answer is unusable: safe to show (never the helper's stdout when it may hold a secret) */
  | { kind: "failed"; reason: string };

/** A line of a failing helper's output that is safe to show: not JSON, short, one line. */
function safeLine(text: string): string | undefined {
  const line = text
    .split("\n")
    .map((l) => l.trim())
    .find(Boolean);
  if (!line || line.startsWith("{") || line.startsWith("[")) return undefined;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** What a finished `get` means (pure). status is null when the helper was killed by `signal`. */
export function parseHelperOutput(status: number | null, signal: string | null, stdout: string, stderr: string): HelperOutcome {
  if (status !== 0) {
    if (/credentials not found/i.test(stdout) || /credentials not found/i.test(stderr)) return { kind: "not-found" };
    const said = safeLine(stdout) ?? safeLine(stderr);
    const how = status === null ? `was killed by ${signal ?? "a signal"}` : `exited with status ${status}`;
    return { kind: "failed", reason: `${how}${said ? `: ${said}` : ""}` };
  }
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    return { kind: "failed", reason: stdout.trim() === "" ? "answered nothing" : "answered something that is not JSON" };
  }
  const d = doc as { Username?: unknown; Secret?: unknown } | null;
  if (typeof d !== "object" || d === null || Array.isArray(d) || typeof d.Username !== "string" || typeof d.Secret !== "string") {
    return { kind: "failed", reason: 'answered JSON without the string fields "Username" and "Secret"' };
  }
  if (d.Username === "" && d.Secret === "") return { kind: "not-found" };
  if (d.Username === TOKEN_USERNAME && d.Secret === "") return { kind: "failed", reason: "answered an empty identity token" };
  return { kind: "found", username: d.Username, secret: d.Secret };
}

/** The credentials of a found answer: "<token>" makes the secret an identity token. */
export function credentialsFrom(answer: { username: string; secret: string }, source: string): Credentials {
  if (answer.username === TOKEN_USERNAME) return { username: "", password: "", identityToken: answer.secret, source };
  return { username: answer.username, password: answer.secret, source };
}

interface Finished {
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** set when cm stopped the helper */
  stopped?: "timeout" | "too-much-output";
}

function runGet(file: string, server: string, env: Record<string, string | undefined>, timeoutMs: number): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(file, ["get"], { stdio: ["pipe", "pipe", "pipe"], env }));
    const stderr = stderrTail(child);
    const out: Buffer[] = [];
    let outBytes = 0;
    let stopped: Finished["stopped"];
    let exit: { status: number | null; signal: string | null } | undefined;
    let done = false;
    const finish = () => {
      if (done || !exit) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(drain);
      resolve({ ...exit, stdout: Buffer.concat(out).toString("utf8"), stderr: stderr(), stopped });
    };
    const stop = (why: NonNullable<Finished["stopped"]>) => {
      stopped ??= why;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(() => stop("timeout"), timeoutMs);
    let drain: NodeJS.Timeout | undefined;
    child.stdout.on("data", (d: Buffer) => {
      outBytes += d.length;
      if (outBytes > MAX_OUTPUT) return stop("too-much-output");
      out.push(d);
    });
    child.stdin.on("error", () => {}); // a helper that exits without reading its input
    child.stdin.end(server);
    child.on("error", (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(err);
    });
    child.on("exit", (status, signal) => {
      exit = { status, signal };
      drain = setTimeout(finish, DRAIN_MS);
    });
    child.on("close", finish);
  });
}

/** Asks the candidate's helper for the credentials of its server; undefined when it has none. */
export async function runCredentialHelper(
  c: HelperCandidate,
  env: Record<string, string | undefined>,
  opts: { timeoutMs?: number } = {},
): Promise<Credentials | undefined> {
  const program = helperProgram(c.helper);
  const where = `${program} (${c.setting})`;
  const file = findHelper(program, env.PATH ?? "");
  if (!file) {
    throw new CmError("credential-helper-missing", `the credential helper ${where} is not on PATH`, {
      hint: `install ${program} or put it on PATH, or remove the ${c.setting.startsWith("credsStore") ? "credsStore setting" : `entry for ${c.registry}`} from the file`,
    });
  }
  const timeoutMs = opts.timeoutMs ?? TIMEOUT_MS;
  let r: Finished;
  try {
    r = await runGet(file, c.server, env, timeoutMs);
  } catch (err) {
    throw new CmError("credential-helper-failed", `could not run the credential helper ${file}: ${(err as Error).message}`, {
      hint: "check that it is an executable program",
    });
  }
  const check = `check it by hand: echo ${c.server} | ${program} get`;
  if (r.stopped === "timeout") {
    throw new CmError(
      "credential-helper-failed",
      `the credential helper ${where} gave no answer for ${c.server} within ${timeoutMs % 1000 === 0 ? `${timeoutMs / 1000} s` : `${timeoutMs} ms`}`,
      { hint: `it may be waiting for input (a passphrase?); ${check}` },
    );
  }
  if (r.stopped === "too-much-output") {
    throw new CmError("credential-helper-failed", `the credential helper ${where} answered more than 1 MiB for ${c.server}`, {
      hint: check,
    });
  }
  const outcome = parseHelperOutput(r.status, r.signal, r.stdout, r.stderr);
  if (outcome.kind === "not-found") return undefined;
  if (outcome.kind === "failed") {
    throw new CmError("credential-helper-failed", `the credential helper ${where} failed for ${c.server}: it ${outcome.reason}`, {
      hint: `${check}; or log in again (docker login / podman login)`,
    });
  }
  return credentialsFrom(outcome, where);
}
