/**
 * Executing a written run directory: `runtime run` to the container's end, for the foreground
 * `cm run`, the detached monitor (actions/detach.ts) and post_create. Around the runtime there are
 * two places for features: steps before the start (the run directory exists, the container not
 * yet: start a helper that lives as long as the container, prepare a mount) and after the exit
 * (the process has ended, the runtime's state not yet removed: read what it left, map the status).
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { CmError } from "../errors.ts";
import { removeHollowTree } from "../host/fs.ts";
import type { Forwarding, OciRuntime, ProcessResult } from "../runtime/oci-runtime.ts";
import { RUN_FILES, type RunRecord } from "../store/runs.ts";
import { runtimeLogSize, transientFailure } from "./machine.ts";

/** How many times in all a start that failed for a reason that passes is made (core/run/startup.ts transientRuntimeFailure). */
export const START_ATTEMPTS = 3;

/** A run directory that is written and about to be (or being) executed. */
export interface ActiveRun {
  id: string;
  dir: string;
  record: RunRecord;
  runtime: OciRuntime;
}

/**
 * One feature's part in the execution. beforeStart may return a cleanup, called on every way out
 * (in reverse order of the steps), after the container has ended. afterExit may replace the result
 * (e.g. a status from the cgroup's OOM counters, 126/127 for a start failure).
 */
export interface RunStep {
  beforeStart?(run: ActiveRun): Promise<(() => void) | undefined> | (() => void) | undefined;
  afterExit?(run: ActiveRun, result: ProcessResult): Promise<ProcessResult> | ProcessResult;
}

export interface ExecuteOptions {
  stdio?: import("node:child_process").StdioOptions | undefined;
  forward?: Forwarding | undefined;
  steps?: readonly RunStep[] | undefined;
  /** the runtime's process once spawned (ProcessOptions.onChild) */
  onChild?: ((child: import("node:child_process").ChildProcess) => void) | undefined;
  /** `run --keep`: the runtime's state stays until the steps' afterExit ran (then it is removed as always) */
  keep?: boolean | undefined;
  /**
   * Where the line goes that says a start is made again (without "cm: "): the runtime has already
   * written its own error line to its stderr by then, and the user is told it was not the end.
   */
  say?: ((line: string) => void) | undefined;
}

/**
 * Runs the container of `run` to its end and resolves to how it ended. On every way out the
 * steps' cleanups run and any runtime state left is removed (runc run removes its own when the
 * container exits; if the runtime itself was killed it may not have). The run directory stays:
 * the caller removes it (foreground) or records the exit in it (detached).
 */
export async function executeRun(run: ActiveRun, opts: ExecuteOptions = {}): Promise<ProcessResult> {
  const cleanups: (() => void)[] = [];
  try {
    for (const step of opts.steps ?? []) {
      const cleanup = await step.beforeStart?.(run);
      if (cleanup) cleanups.push(cleanup);
    }
    let result = await runRuntime(run, opts);
    for (const step of opts.steps ?? []) if (step.afterExit) result = await step.afterExit(run, result);
    return result;
  } finally {
    for (const cleanup of cleanups.reverse()) cleanup();
    if (run.runtime.hasState(run.id)) run.runtime.delete(run.id);
  }
}

/** `runtime run` to the container's end, with the attempts of startAttempts. */
async function runRuntime(run: ActiveRun, opts: ExecuteOptions): Promise<ProcessResult> {
  const start = () =>
    run.runtime.run(run.id, run.dir, join(run.dir, RUN_FILES.pid), {
      stdio: opts.stdio,
      forward: opts.forward,
      onChild: opts.onChild,
      keep: opts.keep,
    });
  const again = () => {
    if (run.runtime.hasState(run.id)) run.runtime.delete(run.id);
  };
  return (await startAttempts(run.dir, run.runtime.binary, "the container", start, { say: opts.say, again })).result;
}

/**
 * Runs `start` (a `runtime run` or `runtime exec` logging to `dir`'s runtime log) and makes it
 * again, up to `attempts` in all, while it failed for a reason that passes (runc's self-copy
 * refused by the kernel: core/run/startup.ts transientRuntimeFailure) before its process existed:
 * no pid file, the runtime exited by itself (not by a signal). `again` runs before each new
 * attempt; `say` gets the line that tells the user (runc has printed its own error by then).
 * Resolves with the last result and where the runtime log stood before it (for runtimeFailure).
 */
export async function startAttempts(
  dir: string,
  binary: string,
  what: string,
  start: () => Promise<ProcessResult>,
  opts: { say?: ((line: string) => void) | undefined; again?: () => void; attempts?: number } = {},
): Promise<{ result: ProcessResult; logAt: number }> {
  for (let attempt = 1; ; attempt++) {
    const logAt = runtimeLogSize(dir);
    const result = await start();
    const last = attempt >= (opts.attempts ?? START_ATTEMPTS);
    if (result.status === 0 || result.started || result.signal !== null || last) return { result, logAt };
    const cause = transientFailure(dir, logAt);
    if (cause === undefined) return { result, logAt };
    opts.again?.();
    opts.say?.(`${basename(binary)}: ${cause} (before ${what} started; a failure that passes): starting it again`);
  }
}

/** The error of a run whose bundle cm delete removed before its container could start (125). */
export function bundleDeleted(name: string): CmError {
  return new CmError("bundle-deleted", `bundle ${name} was deleted while this run was starting`, { hint: "create it again" });
}

/** Whether the bundle at `bundleDir` is still there (cm delete renames it away first: actions/delete.ts). */
export function bundlePresent(bundleDir: string): boolean {
  return existsSync(join(bundleDir, "config.json"));
}

/**
 * Whether a run that ended with `result` was undone by cm delete removing its bundle meanwhile
 * (delete renames the bundle away, then stops the runs it found and removes their run directories):
 *   - the start failed (no pid file, status 1..127) with the bundle or the run directory gone: the
 *     runtime saw the root filesystem vanish (ENOENT, pivot_root EBUSY, its own exec failing, ...)
 *   - the init started but the command, found before the start, was not there (126/127) with the
 *     bundle gone: a runtime that started after the rename re-creates the mount points at the old
 *     path (runc's MkdirAll), and a second run can pivot into that hollow tree
 * A container delete stopped (128+N) is not that: its status is its own. When it was, the hollow
 * tree the runtime may have left at the bundle's path is removed (only when it holds no data:
 * host/fs.ts removeHollowTree).
 */
export async function undoneByDelete(bundleDir: string, runDir: string, result: ProcessResult): Promise<boolean> {
  const bundleGone = !bundlePresent(bundleDir);
  const failedStart = result.status !== 0 && result.status < 128 && !result.started && (bundleGone || !existsSync(runDir));
  const hollow = result.started && (result.status === 126 || result.status === 127) && bundleGone;
  if (!failedStart && !hollow) return false;
  if (bundleGone) await removeHollowBundle(bundleDir);
  return true;
}

/**
 * Removes the hollow tree at a deleted bundle's path under the bundle's lock (waiting for a delete
 * still at work; a create cannot put a new bundle there meanwhile), and only while no process is
 * rooted in it: a container that pivoted into it could swap its directories for symlinks under
 * the removal. Kept otherwise: cm list reports it and the next cm delete removes it.
 */
async function removeHollowBundle(bundleDir: string): Promise<void> {
  const { waitLock } = await import("../store/lock.ts");
  const { bundleLockPath } = await import("../store/bundles.ts");
  const { processesRootedIn } = await import("../host/tree-users.ts");
  let lock: import("../store/lock.ts").Lock;
  try {
    lock = await waitLock(bundleLockPath(dirname(bundleDir), basename(bundleDir)));
  } catch {
    return; // the project directory is gone, and the tree with it
  }
  try {
    if (!bundlePresent(bundleDir) && processesRootedIn(join(bundleDir, "rootfs")).length === 0) removeHollowTree(bundleDir);
  } finally {
    lock.release();
  }
}
