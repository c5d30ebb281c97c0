/**
 * Running the real cm in tests, as root or as the unprivileged test user, each test in a sandbox of
 * its own: a home, a project directory, and cm's data and state directories inside it.
 * Everything the unprivileged user needs lives below CM_TEST_RUN, which it can reach.
 */

import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export type As = "root" | "rootless";
/** Every integration suite runs its cases for both. */
export const USERS: As[] = ["root", "rootless"];

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the integration tests through npm test (it runs the global setup)`);
  return v;
}

export const fixtures = {
  get bin() {
    return env("CM_TEST_BIN");
  },
  get busybox() {
    return env("CM_TEST_BUSYBOX");
  },
  get debianTar() {
    return env("CM_TEST_DEBIAN_TAR");
  },
  get user() {
    return env("CM_TEST_USER");
  },
};

export interface Result {
  status: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Sandbox {
  as: As;
  uid: number;
  gid: number;
  dir: string;
  home: string;
  /** the project directory (its name is the project name) */
  project: string;
  env: Record<string, string>;
  /** runs cm to completion */
  cm(args: string[], opts?: { cwd?: string; input?: string; env?: Record<string, string>; timeoutMs?: number }): Result;
  /** starts cm and returns the child (for signals and concurrency); extraFds: pipes cm inherits as fds 3.. */
  spawn(args: string[], opts?: { cwd?: string; env?: Record<string, string>; extraFds?: number }): ChildProcess;
  /** runs any program as the sandbox's user */
  exec(file: string, args: string[], opts?: { cwd?: string }): Result;
  /** a new directory owned by the sandbox's user */
  mkdir(...parts: string[]): string;
}

function userIds(user: string): { uid: number; gid: number } {
  const uid = Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim());
  const gid = Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim());
  return { uid, gid };
}

/** argv that runs `file args` as the sandbox user with exactly `environment` (no inherited variables). */
function asUser(as: As, user: string, environment: Record<string, string>, file: string, args: string[]): [string, string[]] {
  const envArgs = Object.entries(environment).map(([k, v]) => `${k}=${v}`);
  if (as === "root") return ["env", ["-i", ...envArgs, file, ...args]];
  return ["setpriv", [`--reuid=${user}`, `--regid=${user}`, "--init-groups", "--", "env", "-i", ...envArgs, file, ...args]];
}

/**
 * A sandbox for `as`; rootless runs as the test user (which has a subordinate id range), or as
 * `opts.user` (for example a user made by the test without one).
 */
export function sandbox(as: As, projectName = "proj", opts: { user?: string } = {}): Sandbox {
  const user = opts.user ?? fixtures.user;
  const { uid, gid } = as === "root" ? { uid: 0, gid: 0 } : userIds(user);
  const dir = join(env("CM_TEST_RUN"), `${as}-${randomBytes(4).toString("hex")}`);
  const own = (p: string) => {
    mkdirSync(p, { recursive: true, mode: 0o755 });
    chownSync(p, uid, gid);
    return p;
  };
  own(dir);
  const home = own(join(dir, "home"));
  const project = own(join(dir, "work", projectName));
  chownSync(join(dir, "work"), uid, gid);
  const environment: Record<string, string> = {
    HOME: home,
    PATH: "/usr/local/bin:/usr/bin:/bin",
    CM_HOME: join(home, "data"),
    CM_STATE_DIR: join(dir, "state"),
    CM_CACHE_DIR: join(env("CM_TEST_RUN"), `cache-${as}${opts.user ? `-${opts.user}` : ""}`),
    LANG: "C.UTF-8",
  };
  const sb: Sandbox = {
    as,
    uid,
    gid,
    dir,
    home,
    project,
    env: environment,
    cm(args, opts = {}) {
      const [file, argv] = asUser(as, user, { ...environment, ...opts.env }, fixtures.bin, args);
      const r = spawnSync(file, argv, {
        cwd: opts.cwd ?? project,
        input: opts.input ?? "",
        encoding: "utf8",
        timeout: opts.timeoutMs ?? 300_000,
      });
      if (r.error) throw r.error;
      return { status: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    },
    spawn(args, opts = {}) {
      const [file, argv] = asUser(as, user, { ...environment, ...opts.env }, fixtures.bin, args);
      const extra = Array.from({ length: opts.extraFds ?? 0 }, () => "pipe" as const);
      return spawn(file, argv, { cwd: opts.cwd ?? project, stdio: ["pipe", "pipe", "pipe", ...extra] });
    },
    exec(file, args, opts = {}) {
      const [f, argv] = asUser(as, user, environment, file, args);
      const r = spawnSync(f, argv, { cwd: opts.cwd ?? project, encoding: "utf8" });
      return { status: r.status ?? -1, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
    },
    mkdir(...parts) {
      return own(join(dir, ...parts));
    },
  };
  mkdirSync(environment.CM_CACHE_DIR as string, { recursive: true, mode: 0o755 });
  chownSync(environment.CM_CACHE_DIR as string, uid, gid);
  return sb;
}

/** Collects a child's output and waits for it to end. */
export function finished(child: ChildProcess): Promise<Result> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
  });
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    stderr += d;
  });
  return new Promise((resolve) => {
    child.on("close", (code, signal) => resolve({ status: code ?? -1, signal, stdout, stderr }));
  });
}

/**
 * cm without blocking this process (for tests whose servers, such as the token proxy, run in it),
 * stdin closed; `env` is added to the sandbox's.
 */
export function cmAsync(sb: Sandbox, args: string[], env: Record<string, string> = {}): Promise<Result> {
  const child = sb.spawn(args, { env });
  child.stdin?.end();
  return finished(child);
}

/**
 * Starts `cm args` as the sandbox user and waits until its stdout shows "ready" (what the
 * container's script echoes once it runs); `done` collects all its output (finished) and settles
 * when it ends.
 */
export async function spawnUntilReady(
  sb: Sandbox,
  args: string[],
  what = "the container to start",
): Promise<{ child: ChildProcess; done: Promise<Result> }> {
  const child = sb.spawn(args);
  const done = finished(child);
  let out = "";
  child.stdout?.on("data", (d: string) => {
    out += d;
  });
  await waitFor(what, () => out.includes("ready"));
  return { child, done };
}

/** No bundle and no half-made one anywhere under cm's data directory (locks aside). */
export function assertNothingLeft(sb: Sandbox): void {
  const data = sb.env.CM_HOME as string;
  if (!existsSync(data)) return;
  for (const key of readdirSync(data)) {
    const left = readdirSync(join(data, key)).filter((n) => !n.endsWith(".lock"));
    assert.deepEqual(left, [], `left behind in ${join(data, key)}`);
  }
}

/** Waits until `check` is true (polling), failing after `ms`. */
export async function waitFor(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A one-line error on stderr: no stack trace, starts with "cm: ". */
export function isOneLineError(stderr: string): boolean {
  const lines = stderr.trim().split("\n");
  return lines.length === 1 && lines[0]?.startsWith("cm: ") === true && !/\n\s+at /.test(stderr);
}

/**
 * Writes `text` as the cm.toml of `dir` (default: the sandbox's project) and approves it with
 * `cm trust` as the sandbox's user, the way a user would after reviewing it: cm uses a project
 * file only once approved. An invalid file is not approved (cm trust says why in one line naming
 * the file), so a test of a bad file sees the same error from the command it runs.
 */
export function writeProjectFile(sb: Sandbox, text: string, dir = sb.project): void {
  writeFileSync(join(dir, "cm.toml"), text, { mode: 0o644 });
  const r = sb.cm(["trust"], { cwd: dir });
  if (r.status !== 0) assert.ok(isOneLineError(r.stderr) && r.stderr.includes("cm.toml"), `cm trust failed: ${r.stderr}`);
}

/**
 * The bundle argument for a `--runtime runsc` run: as root the default bundle; rootless a bundle
 * "gv" made once with `--userns single` from the busybox fixture, since rootless gVisor refuses a
 * range-mode bundle (its files may belong to subordinate ids, which gVisor cannot map).
 */
export function runscBundle(sb: Sandbox): string[] {
  if (sb.as === "root") return [];
  const r = sb.cm(["create", "gv", "--userns", "single", "--from", `dir:${fixtures.busybox}`]);
  if (r.status !== 0) assert.match(r.stderr, /bundle "gv" .* already exists/, r.stderr);
  return ["gv"];
}
