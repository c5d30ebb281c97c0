/**
 * The one runc driver: every runc invocation goes through here. cm uses its own state root
 * (`runc --root`), so `runc list` there shows only cm's containers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { CmError } from "../errors.ts";
import { capture } from "../host/tools.ts";

export interface ContainerState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped" | string;
  bundle: string;
  created: string;
}

export class Runc {
  readonly binary: string;
  readonly root: string;

  constructor(binary: string, root: string) {
    this.binary = binary;
    this.root = root;
  }

  private args(...rest: string[]): string[] {
    return ["--root", this.root, ...rest];
  }

  /**
   * `runc run` in the foreground with cm's stdio: the caller waits for the child. runc gets only
   * PATH from cm's environment: LISTEN_FDS/LISTEN_PID would make runc pass inherited sockets into
   * the container (socket activation), and nothing else of the host's environment is its business.
   */
  run(id: string, bundleDir: string): ChildProcess {
    return spawn(this.binary, this.args("run", "--bundle", bundleDir, id), { stdio: "inherit", env: runcEnv(process.env) });
  }

  list(): ContainerState[] {
    const r = capture(this.binary, this.args("list", "--format", "json"));
    if (r.status !== 0) throw new CmError("runc-failed", `runc list failed: ${lastLine(r.stderr)}`);
    return parseList(r.stdout);
  }

  state(id: string): ContainerState | undefined {
    const r = capture(this.binary, this.args("state", id));
    if (r.status !== 0) return undefined;
    return JSON.parse(r.stdout) as ContainerState;
  }

  /** Sends a signal to the container's init; false when the container is already gone. */
  kill(id: string, signal: string): boolean {
    return capture(this.binary, this.args("kill", id, signal)).status === 0;
  }

  /** Removes the container's runc state (killing what still runs). */
  delete(id: string): void {
    capture(this.binary, this.args("delete", "--force", id));
  }
}

/** The environment runc runs with: PATH only. */
export function runcEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return { PATH: env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };
}

/** `runc list --format json` prints `null` when there are no containers. */
export function parseList(text: string): ContainerState[] {
  const parsed = JSON.parse(text.trim() || "null") as ContainerState[] | null;
  return parsed ?? [];
}

function lastLine(text: string): string {
  return text.trim().split("\n").pop() ?? "";
}
