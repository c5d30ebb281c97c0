/** Finding host programs, and running them with argv arrays (never through a shell). */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { CmError } from "../errors.ts";

/** Debian packages of the tools cm requires, named in "not found" errors (a tool's own name otherwise). */
const PACKAGE: Record<string, string> = {
  runc: "runc",
  mmdebstrap: "mmdebstrap",
  debootstrap: "debootstrap",
  cp: "coreutils",
  mkfifo: "coreutils",
  podman: "podman",
  docker: "docker.io",
  runsc: "runsc",
  crun: "crun",
  xz: "xz-utils",
};

/** sbin directories are searched too: an ordinary user's PATH often lacks them, and runc lives there. */
const EXTRA_DIRS = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

export function findTool(name: string, envPath = process.env.PATH ?? ""): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  for (const dir of [...envPath.split(":").filter((d) => d.startsWith("/")), ...EXTRA_DIRS]) {
    const candidate = join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function requireTool(name: string): string {
  const found = findTool(name);
  if (found) return found;
  const pkg = PACKAGE[name] ?? name;
  throw new CmError("tool-missing", `${name} not found on this host`, {
    hint: `install it: apt-get install ${pkg}`,
  });
}

/** Children doing long work (mmdebstrap, debootstrap, runQuiet's cp, a credential helper): an interrupted cm stops them before cleaning up. */
const children = new Set<ChildProcess>();

export function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.on("close", () => children.delete(child));
  return child;
}

export function stopChildren(signal: NodeJS.Signals = "SIGTERM"): void {
  for (const child of children) child.kill(signal);
}

export interface Captured {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a program to completion and captures its output; a program killed by a signal reports 137. */
export function capture(file: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Captured {
  const r = spawnSync(file, args, { encoding: "utf8", input: opts.input, env: opts.env ?? process.env, maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new CmError("spawn-failed", `could not run ${file}: ${r.error.message}`);
  return { status: r.status ?? 128 + 9, stdout: r.stdout, stderr: r.stderr };
}

/** Keeps the end of a child's stderr, for an error message: read it with the returned function. */
export function stderrTail(child: ChildProcess): () => string {
  let tail = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => {
    tail = (tail + d).slice(-4000);
  });
  return () => tail;
}

/** The last non-empty line of a tool's output (trimmed), for a one-line error message; "" when none. */
export function lastLine(text: string): string {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .pop() ?? ""
  );
}

/** Resolves to a child's exit status: -1 when it could not start or was killed by a signal. */
export function exitStatus(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.on("error", () => resolve(-1));
    child.on("close", (code) => resolve(code ?? -1));
  });
}

/** Runs a program with its stderr captured (for the error message) and stdout ignored. */
export function runQuiet(file: string, args: string[], what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(file, args, { stdio: ["ignore", "ignore", "pipe"] }));
    const stderr = stderrTail(child);
    child.on("error", (err) => reject(new CmError("spawn-failed", `could not run ${file}: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      const last = lastLine(stderr()) || `exit ${code ?? signal}`;
      reject(new CmError("tool-failed", `${what} failed: ${last}`));
    });
  });
}
