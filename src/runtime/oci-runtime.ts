/**
 * The one OCI runtime driver: every runc (or runsc, crun: any runtime with runc's command line)
 * invocation goes through here. cm gives each runtime its own state root (`--root`), so `runc list`
 * there shows only cm's containers; runtime-specific global flags (core/run/runtime.ts) are kept
 * with the driver and repeated on every invocation for the container.
 */
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { warmCgroupMigration } from "../host/cgroup-warm.ts";
import { readDirOrEmpty } from "../host/fs.ts";
import { capture } from "../host/tools.ts";
import { forwardSignals } from "./signals.ts";

/**
 * How a container process ended: the one result of `runtime run` and `runtime exec`, for cm run
 * (foreground and the detached monitor), cm exec and post_create.
 */
export interface ProcessResult {
  /** the runtime's exit code (runc exits with the container's status, 128+N for signal N); null when killed by a signal or not started */
  exitCode: number | null;
  /** the signal that ended the runtime process itself, if one did */
  signal: NodeJS.Signals | null;
  /** the status as a shell reports it: exitCode, else 128+N for signal N, else 125 (the runtime could not be spawned) */
  status: number;
  /** the runtime wrote the pid file, so the container's process existed (always false when no pid file was asked for) */
  started: boolean;
}

/** Where signals cm receives go while it waits for a container process. */
export interface Forwarding {
  signals: readonly NodeJS.Signals[];
  /** "process": to the runtime process, which passes them on (runc run/exec do); "kill": `runtime kill ID SIG` */
  via: "process" | "kill";
  /** never leave the container running unattended: the third SIGINT or an unanswered SIGHUP kills it (runtime/signals.ts) */
  guard?: boolean | undefined;
}

export interface ProcessOptions {
  /** default: cm's own stdio */
  stdio?: StdioOptions | undefined;
  /** default: no forwarding */
  forward?: Forwarding | undefined;
  /** a program and its arguments (ending in `--`) the runtime runs through: core/run/runtime.ts execInUserScope */
  wrapper?: readonly string[] | undefined;
  /** given the runtime's process once spawned: for stdio "pipe" (the detached run's bounded log) */
  onChild?: ((child: ChildProcess) => void) | undefined;
  /** `run --keep`: the runtime keeps the stopped container (its cgroup) until `delete` (actions/machine.ts keepForOom) */
  keep?: boolean | undefined;
}

/** The shell's status for a process that ended with `code` or by `signal`: 128+N for signal N (POSIX sh, docker). */
export function shellStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/**
 * Waits for a spawned process, forwarding signals while it runs; `pidFile` (if given) is checked at
 * its end for `started`. Never rejects: a spawn failure is status 125 (cm's own error status).
 */
export function waitProcess(
  child: ChildProcess,
  opts: {
    pidFile?: string | undefined;
    forward?: ((signal: NodeJS.Signals) => void) | undefined;
    signals?: readonly NodeJS.Signals[];
    kill?: ((why: string) => void) | undefined;
  },
): Promise<ProcessResult> {
  const stop = opts.forward ? forwardSignals(opts.signals ?? [], opts.forward, opts.kill) : () => {};
  return new Promise((resolve) => {
    const done = (exitCode: number | null, signal: NodeJS.Signals | null, status: number) => {
      stop();
      resolve({ exitCode, signal, status, started: opts.pidFile !== undefined && existsSync(opts.pidFile) });
    };
    child.on("error", () => done(null, null, 125));
    child.on("close", (code, signal) => done(code, signal, shellStatus(code, signal)));
  });
}

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
   * `run` in the foreground, to its end: the container's whole life. The runtime writes the pid
   * file (the container's init) once the process exists. The runtime gets only PATH from cm's
   * environment: LISTEN_FDS/LISTEN_PID would make runc pass inherited sockets into the container
   * (socket activation), and nothing else of the host's environment is its business.
   */
  run(id: string, bundleDir: string, pidFile: string, opts: ProcessOptions = {}): Promise<ProcessResult> {
    const child = this.spawn(["run", ...(opts.keep ? ["--keep"] : []), "--bundle", bundleDir, "--pid-file", pidFile, id], opts, pidFile);
    return waitProcess(child, { pidFile, ...this.forwarding(id, child, opts.forward) });
  }

  /**
   * `exec` a new process in a running container, to its end. With `pidFile` the runtime writes the
   * process's pid there once it exists (`started` in the result).
   */
  exec(id: string, args: string[], tty: boolean, opts: ProcessOptions = {}, pidFile?: string): Promise<ProcessResult> {
    const child = this.spawn(["exec", ...(tty ? ["--tty"] : []), ...(pidFile ? ["--pid-file", pidFile] : []), id, ...args], opts, pidFile);
    return waitProcess(child, { pidFile, ...this.forwarding(id, child, opts.forward) });
  }

  /**
   * Spawns the runtime. Alongside, the kernel's cgroup-migration rwsem is kept in writer mode
   * until the runtime has moved the container's process into its cgroup (its pid file exists) or
   * has ended: host/cgroup-warm.ts.
   */
  private spawn(rest: string[], opts: ProcessOptions, pidFile?: string): ChildProcess {
    let child: ChildProcess | undefined;
    const moved = () =>
      child === undefined || child.exitCode !== null || child.signalCode !== null || (pidFile !== undefined && existsSync(pidFile));
    warmCgroupMigration({ until: moved });
    const [file, ...argv] = [...(opts.wrapper ?? []), this.binary, ...this.args(...rest)] as [string, ...string[]];
    child = spawn(file, argv, { stdio: opts.stdio ?? "inherit", env: runcEnv(process.env) });
    opts.onChild?.(child);
    return child;
  }

  private forwarding(id: string, child: ChildProcess, f: Forwarding | undefined) {
    if (!f) return {};
    const forward = f.via === "process" ? (s: NodeJS.Signals) => void child.kill(s) : (s: NodeJS.Signals) => void this.kill(id, s.slice(3));
    const kill = f.guard
      ? (why: string) => {
          process.stderr.write(`cm: ${why}: killing container ${id}\n`);
          this.kill(id, "KILL");
        }
      : undefined;
    return { forward, signals: f.signals, kill };
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
    return readDirOrEmpty(this.root);
  }
}

/**
 * The environment runc runs with: PATH, and where the user's D-Bus is (XDG_RUNTIME_DIR,
 * DBUS_SESSION_BUS_ADDRESS), which the systemd cgroup driver needs rootless (runc and crun look
 * there for the user's bus). Without XDG_RUNTIME_DIR (cm stop from cron, say), an ordinary user's
 * is systemd's /run/user/UID.
 *
 * GODEBUG=asyncpreemptoff=1: Go's scheduler preempts a busy goroutine by sending its own process
 * SIGURG (Go 1.14+), and a foreground `runc run`/`runc exec` (1.1.5, Debian 12) forwards every signal
 * it receives to the container, SIGURG included (later runc filters it out). The container's
 * processes ignore SIGURG, but its init does not: tini passes it on and, when the command's process
 * group is not there yet or any more, writes `[WARN  tini (1)] Child was dead when forwarding
 * signal` into the user's output. Off, the runtime sends itself no SIGURG; a SIGURG sent to it from
 * outside still reaches the container. runsc is Go too; crun ignores the variable.
 */
export function runcEnv(env: NodeJS.ProcessEnv, uid = process.getuid?.() ?? 0): Record<string, string> {
  const out: Record<string, string> = { PATH: env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
  if (env.XDG_RUNTIME_DIR?.startsWith("/")) out.XDG_RUNTIME_DIR = env.XDG_RUNTIME_DIR;
  else if (uid !== 0) out.XDG_RUNTIME_DIR = `/run/user/${uid}`;
  if (env.DBUS_SESSION_BUS_ADDRESS) out.DBUS_SESSION_BUS_ADDRESS = env.DBUS_SESSION_BUS_ADDRESS;
  out.GODEBUG = "asyncpreemptoff=1";
  return out;
}
