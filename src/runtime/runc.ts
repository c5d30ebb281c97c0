/**
 * The one OCI runtime driver: every runc (or runsc, crun: any runtime with runc's command line)
 * invocation goes through here. cm gives each runtime its own state root (`--root`), so `runc list`
 * there shows only cm's containers; runtime-specific global flags (core/run/runtime.ts) are kept
 * with the driver and repeated on every invocation for the container.
 */
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CmError } from "../errors.ts";
import { capture } from "../host/tools.ts";

export interface ContainerState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped" | string;
  bundle: string;
  created: string;
}

export class OciRuntime {
  readonly binary: string;
  readonly root: string;
  readonly flags: readonly string[];

  constructor(binary: string, root: string, flags: readonly string[] = []) {
    this.binary = binary;
    this.root = root;
    this.flags = flags;
  }

  private args(...rest: string[]): string[] {
    return ["--root", this.root, ...this.flags, ...rest];
  }

  /**
   * `run` in the foreground: the caller waits for the child. The pid file names the container's
   * init. The runtime gets only PATH from cm's environment: LISTEN_FDS/LISTEN_PID would make runc
   * pass inherited sockets into the container (socket activation), and nothing else of the host's
   * environment is its business.
   */
  run(id: string, bundleDir: string, pidFile: string, stdio: StdioOptions = "inherit"): ChildProcess {
    return spawn(this.binary, this.args("run", "--bundle", bundleDir, "--pid-file", pidFile, id), { stdio, env: runcEnv(process.env) });
  }

  /**
   * `exec` a new process in a running container, with cm's stdio. `wrapper` (a program and its
   * arguments, ending in `--`) runs the runtime through it: core/run/runtime.ts execInUserScope.
   */
  exec(id: string, args: string[], tty: boolean, wrapper: readonly string[] = []): ChildProcess {
    const argv = [this.binary, ...this.args("exec", ...(tty ? ["--tty"] : []), id, ...args)];
    const [file, ...rest] = [...wrapper, ...argv] as [string, ...string[]];
    return spawn(file, rest, { stdio: "inherit", env: runcEnv(process.env) });
  }

  list(): ContainerState[] {
    const r = capture(this.binary, this.args("list", "--format", "json"), { env: runcEnv(process.env) });
    if (r.status !== 0) throw new CmError("runc-failed", `${this.binary} list failed: ${lastLine(r.stderr)}`);
    return parseList(r.stdout);
  }

  state(id: string): ContainerState | undefined {
    const r = capture(this.binary, this.args("state", id), { env: runcEnv(process.env) });
    if (r.status !== 0) return undefined;
    return JSON.parse(r.stdout) as ContainerState;
  }

  /** Sends a signal to the container's init; false when the container is already gone. */
  kill(id: string, signal: string): boolean {
    return capture(this.binary, this.args("kill", id, signal), { env: runcEnv(process.env) }).status === 0;
  }

  /** Removes the container's state (killing what still runs). */
  delete(id: string): void {
    capture(this.binary, this.args("delete", "--force", id), { env: runcEnv(process.env) });
  }

  /**
   * Whether the runtime still keeps state for `id`, read from its state root without running it:
   * runc and crun keep a directory `<root>/<id>`, runsc files `<root>/<id>_sandbox:<id>.state`.
   */
  hasState(id: string): boolean {
    if (existsSync(join(this.root, id))) return true;
    return this.isRunsc() && this.stateFiles().some((n) => n.startsWith(`${id}_sandbox:`));
  }

  /** IDs with state under the root (as in hasState). */
  stateIds(): string[] {
    const ids = this.stateFiles().map((n) => (this.isRunsc() ? n.replace(/_sandbox:.*$/, "") : n));
    return [...new Set(ids)];
  }

  /** Removes what `delete` could not (the runtime failed or is gone): never a running container's state. */
  removeStateFiles(id: string): void {
    for (const n of this.stateFiles()) {
      if (n === id || n.startsWith(`${id}_sandbox:`)) rmSync(join(this.root, n), { recursive: true, force: true });
    }
  }

  private isRunsc(): boolean {
    return this.binary.endsWith("/runsc") || this.binary === "runsc";
  }

  private stateFiles(): string[] {
    try {
      return readdirSync(this.root);
    } catch {
      return [];
    }
  }
}

/**
 * The environment runc runs with: PATH, and where the user's D-Bus is (XDG_RUNTIME_DIR,
 * DBUS_SESSION_BUS_ADDRESS), which the systemd cgroup driver needs rootless (runc and crun look
 * there for the user's bus). Without XDG_RUNTIME_DIR (cm stop from cron, say), an ordinary user's
 * is systemd's /run/user/UID.
 */
export function runcEnv(env: NodeJS.ProcessEnv, uid = process.getuid?.() ?? 0): Record<string, string> {
  const out: Record<string, string> = { PATH: env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
  if (env.XDG_RUNTIME_DIR?.startsWith("/")) out.XDG_RUNTIME_DIR = env.XDG_RUNTIME_DIR;
  else if (uid !== 0) out.XDG_RUNTIME_DIR = `/run/user/${uid}`;
  if (env.DBUS_SESSION_BUS_ADDRESS) out.DBUS_SESSION_BUS_ADDRESS = env.DBUS_SESSION_BUS_ADDRESS;
  return out;
}

/** `runc list --format json` prints `null` when there are no containers. */
export function parseList(text: string): ContainerState[] {
  const parsed = JSON.parse(text.trim() || "null") as ContainerState[] | null;
  return parsed ?? [];
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}
