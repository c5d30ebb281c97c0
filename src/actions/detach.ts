/**
 * Detached runs. `cm run -d` starts a monitor: cm itself again (`cm __monitor RUNDIR`), in a new
 * session, with no terminal and no pipes of the caller. The monitor is what `cm run` is in the
 * foreground: the parent of `runtime run` (so the container's exit is seen and reaped, and the
 * runtime removes its own state), with the container's stdout and stderr going to
 * <run dir>/container.log (bounded: store/log.ts). When the container ends the monitor writes exit.json (its status,
 * 128+N for signal N) and leaves; the run directory stays for `cm logs` and `cm ps --all` until
 * `cm gc`. `cm run -d` returns once the runtime has written the pid file (the container runs), or
 * reports the failure when the monitor recorded an exit first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { escapeControls } from "../core/names.ts";
import { runtimeKind } from "../core/run/runtime.ts";
import type { OverlayRoots } from "../core/run/sandbox.ts";
import type { OciSpec } from "../core/runtime-spec/types.ts";
import { CmError, isErrno } from "../errors.ts";
import { writeFileAtomic } from "../host/fs.ts";
import { startTime } from "../host/pid.ts";
import { lastLine } from "../host/tools.ts";
import { OciRuntime } from "../runtime/oci-runtime.ts";
import { MONITOR_FORWARDED } from "../runtime/signals.ts";
import { CappedLog, DEFAULT_LOG_MAX_BYTES } from "../store/log.ts";
import { type ExitRecord, RUN_FILES, type RunRecord, readExit, readPid } from "../store/runs.ts";
import { keepForOom, oomSlice, oomStep, runtimeFailure } from "./machine.ts";
import { projectOwnerStep } from "./projectowner.ts";
import { bundleDeleted, bundlePresent, executeRun, undoneByDelete } from "./runexec.ts";
import { sandboxSteps } from "./runsteps.ts";

const START_TIMEOUT_MS = 60_000;

/**
 * Starts the monitor of the run directory `dir` and resolves once the container runs (the runtime
 * wrote the pid file). Throws the monitor's recorded failure as one line (126/127 kept), the
 * bundle deleted (125) when cm delete removed it meanwhile, or a timeout after START_TIMEOUT_MS.
 */
export async function startDetached(dir: string, id: string, bundle: { name: string; dir: string }): Promise<void> {
  const main = process.argv[1];
  if (!main) throw new CmError("internal", "cannot find cm's own entry point to start the monitor");
  const child = spawn(process.execPath, ["--", main, "__monitor", dir], { detached: true, stdio: "ignore" });
  child.unref();
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const look = startLook({ exit: () => readExit(dir), pid: () => readPid(dir), dirExists: () => existsSync(dir) });
    if (look.kind === "started") return;
    // cm delete renamed the bundle away (and may have removed the run directory with it)
    if (look.kind !== "waiting" && !bundlePresent(bundle.dir)) throw bundleDeleted(bundle.name);
    if (look.kind === "failed") {
      const { exit } = look;
      // the monitor's own line (the runtime's error, translated) is already worded for the user
      const line = lastLine(readLog(dir)).replace(/^cm: (the container did not start: )?/, "");
      throw new CmError("start-failed", `container ${id} did not start: ${line || `exit status ${exit.status}`}`, {
        hint: `its output: cm logs ${id}`,
        ...(exit.status === 126 || exit.status === 127 ? { exitCode: exit.status } : {}),
      });
    }
    if (look.kind === "gone") {
      throw new CmError("start-failed", `container ${id} did not start: its run directory ${dir} was removed meanwhile`, {
        hint: "run it again",
      });
    }
    await sleep(5);
  }
  throw new CmError("start-failed", `container ${id} did not start within ${START_TIMEOUT_MS / 1000} s`, {
    hint: `see cm logs ${id}; cm stop ${id}`,
  });
}

export type StartLook = { kind: "started" } | { kind: "failed"; exit: ExitRecord } | { kind: "gone" } | { kind: "waiting" };

/**
 * One look at a detached run's directory while cm run -d waits for its start: started (the runtime
 * wrote the pid file), failed (the monitor recorded an exit with no pid file), gone (the run
 * directory was removed: cm delete), or waiting. The exit is read before the pid file: the runtime
 * writes the pid file before the command runs and the monitor the exit after it ended, so a pid
 * file missing when read after the exit never existed, and a container that started and ended
 * between two reads has both and started. (Read the other way round, a command that ended at once
 * was reported as a failed start: `exit status 4`, found by CI under load.)
 */
export function startLook(read: { exit(): ExitRecord | undefined; pid(): number | undefined; dirExists(): boolean }): StartLook {
  const exit = read.exit();
  if (read.pid() !== undefined) return { kind: "started" };
  if (exit) return { kind: "failed", exit };
  return read.dirExists() ? { kind: "waiting" } : { kind: "gone" };
}

/**
 * The monitor: runs the container to its end with output to the log, then records the exit status.
 * `dir` is the run directory; `layers` where its overlay layers are (the user's Layout).
 */
export async function monitor(dir: string, layers: OverlayRoots): Promise<number> {
  const record = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as RunRecord;
  if (!record.runtime || !record.detached) throw new CmError("internal", `${dir} is not a detached run`);
  // From here on this process owns the run: gc and ps look at it, not at the cm that started it.
  writeFileAtomic(join(dir, "run.json"), JSON.stringify({ ...record, cmPid: process.pid, cmStart: startTime(process.pid) }), 0o600);
  const runtime = new OciRuntime(record.runtime.binary, record.runtime.root, record.runtime.flags);
  const log = new CappedLog(dir, record.logMaxBytes ?? DEFAULT_LOG_MAX_BYTES);
  // A stop signal for the monitor goes to the container (forwarded while it runs): it ends, and its
  // status is recorded; after that one must not end the monitor before exit.json is written.
  for (const s of MONITOR_FORWARDED) process.on(s, () => {});
  let status: number;
  // runc with a memory limit keeps the container after its exit, so its cgroup can be read (actions/machine.ts)
  const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as OciSpec;
  const keep = keepForOom(spec, runtimeKind(record.runtime.binary));
  const oom = oomStep((line) => log.write(Buffer.from(`cm: ${line}\n`)), oomSlice(spec));
  try {
    const forward = { signals: MONITOR_FORWARDED, via: "kill" } as const;
    const sandbox = sandboxSteps(record, {
      layers,
      rootless: process.getuid?.() !== 0,
      rootfs: spec.root.path,
      say: (line) => log.write(Buffer.from(`cm: ${escapeControls(line)}\n`)),
    });
    const uid = process.getuid?.() ?? 0;
    const owner = uid !== 0 ? [projectOwnerStep(record.projectPath, uid, (line) => log.write(Buffer.from(`cm: ${line}\n`)))] : [];
    // Through pipes, not the file itself: the log is bounded (store/log.ts).
    const onChild = (child: ChildProcess) => {
      child.stdout?.on("data", (c: Buffer) => log.write(c));
      child.stderr?.on("data", (c: Buffer) => log.write(c));
    };
    const result = await executeRun(
      { id: record.id, dir, record, runtime },
      {
        stdio: ["ignore", "pipe", "pipe"],
        forward,
        keep,
        steps: [...sandbox, ...(keep ? [oom] : []), ...owner],
        onChild,
        say: (line) => log.write(Buffer.from(`cm: ${escapeControls(line)}\n`)),
      },
    );
    status = result.status;
    // not started: the runtime's error (from its JSON log) as one cm: line in the container's log;
    // undone by cm delete: said so (as cm run in the foreground says it)
    const undone =
      record.bundleDir !== undefined && (await undoneByDelete(record.bundleDir, dir, result)) ? bundleDeleted(record.bundle) : undefined;
    const failure = undone ?? (result.status !== 0 && !result.started ? runtimeFailure(dir, basename(record.runtime.binary)) : undefined);
    if (failure) {
      log.write(Buffer.from(`cm: ${failure.message}\n`));
      status = failure.exitCode;
    }
  } finally {
    log.close();
  }
  const exit: ExitRecord = { status, ended: new Date().toISOString(), ...(oom.oomKilled ? { oomKilled: true } : {}) };
  try {
    writeFileAtomic(join(dir, RUN_FILES.exit), JSON.stringify(exit), 0o600);
  } catch (err) {
    // cm delete removed the run directory while stopping the container: nothing left to record
    if (!isErrno(err, "ENOENT")) throw err;
  }
  return 0;
}

function readLog(dir: string): string {
  try {
    return readFileSync(join(dir, RUN_FILES.log), "utf8").slice(-4000);
  } catch {
    return "";
  }
}
