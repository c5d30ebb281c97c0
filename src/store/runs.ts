/**
 * Per-run state: <state>/runs/<id>/ holds the final config.json given to runc and run.json, the
 * record of what this container is (project, bundle, command). The record is written before runc
 * starts, so every container cm started can be found, stopped and cleaned up from it.
 */
import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, type Stats, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunFile } from "../core/run/plan.ts";
import type { SandboxRecord } from "../core/run/sandbox.ts";
import { type OciSpec, specJson } from "../core/runtime-spec/index.ts";
import { CmError, isErrno, withPath } from "../errors.ts";
import { layerMaking, readDirOrEmpty } from "../host/fs.ts";
import { startTime } from "../host/pid.ts";

export interface RunRecord {
  id: string;
  projectKey: string;
  projectName: string;
  bundle: string;
  /** the bundle's directory (for a start undone by cm delete: actions/runexec.ts undoneByDelete); absent in records of cm 0.x before it */
  bundleDir?: string | undefined;
  projectPath: string;
  command: string[];
  started: string;
  /** pid of the cm process that owns it: `cm run` in the foreground, the monitor of a detached run */
  cmPid: number;
  /** its start time (/proc/PID/stat), so that a reused pid is not taken for it */
  cmStart?: number | undefined;
  /** the runtime and its flags; absent in records of cm before --runtime: runc in <state>/runc */
  runtime?: { binary: string; root: string; flags: string[] } | undefined;
  /** started with --detach: output in container.log, exit status in exit.json */
  detached?: boolean | undefined;
  /** a detached run's log limit in bytes per file (store/log.ts); absent: the default */
  logMaxBytes?: number | undefined;
  /** --allow-host: the patterns the owner's proxy lets through (the owner serves it: actions/runsteps.ts) */
  egress?: SandboxRecord["egress"];
  /** --review: /project is an overlay; its layer is <state>/reviews/<id> (review/store.ts) */
  review?: true | undefined;
  /** --ephemeral: / is an overlay whose upper is in the run directory, removed when the run ends */
  ephemeral?: true | undefined;
}

/** Files of a run directory besides config.json and run.json. */
export const RUN_FILES = {
  /** the container's init pid, written by the runtime (--pid-file) */
  pid: "pid",
  /** a detached run's stdout and stderr */
  log: "container.log",
  /** the previous log once container.log reached its size limit (store/log.ts) */
  oldLog: "container.log.1",
  /** how a detached run ended: { status, ended } */
  exit: "exit.json",
} as const;

export interface ExitRecord {
  /** exit status as a shell reports it (128+N for signal N); null when nobody saw it (its monitor was gone) */
  status: number | null;
  ended: string;
  /** the kernel killed a process of the container for memory (its cgroup's OOM kill count); absent: no, or not known */
  oomKilled?: boolean | undefined;
}

export function readExit(dir: string): ExitRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, RUN_FILES.exit), "utf8")) as ExitRecord;
  } catch {
    return undefined;
  }
}

/** The pid file's modification time (ms since the epoch): the pid named existed then. */
export function pidWrittenAt(dir: string): number | undefined {
  try {
    return statSync(join(dir, RUN_FILES.pid)).mtimeMs;
  } catch {
    return undefined;
  }
}

/** The container's init pid, once the runtime has written it. */
export function readPid(dir: string): number | undefined {
  try {
    const n = Number(readFileSync(join(dir, RUN_FILES.pid), "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export function runDir(runs: string, id: string): string {
  return join(runs, id);
}

/** A run record before it is written: createRunDir stamps id, started, cmPid and cmStart. */
export type NewRunRecord = Omit<RunRecord, "id" | "started" | "cmPid" | "cmStart">;

const RESERVED = new Set<string>(["config.json", "run.json", ...Object.values(RUN_FILES)]);

/**
 * The one place a run directory is made: `<runs>/<id>/` (0700, must not exist yet) with the run's
 * own files, config.json (the spec given to the runtime) and run.json (the record, written last:
 * a run with a record is complete). The state directories are created and checked first. On a
 * failed write the directory is removed again. Returns the directory and the record as written.
 */
export function createRunDir(
  layout: { state: string; runs: string; uid: number },
  id: string,
  fields: NewRunRecord,
  spec: OciSpec,
  files: readonly RunFile[] = [],
): { dir: string; record: RunRecord } {
  ensureStateDirs(layout.state, layout.runs, layout.uid);
  const dir = runDir(layout.runs, id);
  const record: RunRecord = { id, ...fields, started: new Date().toISOString(), cmPid: process.pid, cmStart: startTime(process.pid) };
  // filled aside and renamed in whole (a cm killed meanwhile leaves a dot-name that cm gc removes),
  // so a run directory always has its run.json
  const making = layerMaking(dir);
  mkdirSync(making, { mode: 0o700 });
  try {
    for (const f of files) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(f.name) || RESERVED.has(f.name)) {
        throw new CmError("internal", `run file name ${JSON.stringify(f.name)} is not a plain, free name in the run directory`);
      }
      writeFileSync(join(making, f.name), f.content, { mode: f.mode ?? 0o600, flag: "wx" });
      // the mode asked for, whatever cm's umask (a file bound for any user inside needs 0644)
      if (f.mode !== undefined) chmodSync(join(making, f.name), f.mode);
    }
    writeFileSync(join(making, "config.json"), specJson(spec));
    writeFileSync(join(making, "run.json"), JSON.stringify(record));
    renameSync(making, dir);
  } catch (err) {
    rmSync(making, { recursive: true, force: true });
    throw withPath(err, dir);
  }
  return { dir, record };
}

/**
 * Creates the state directories, and checks that the state directory is ours: a directory (not a
 * symlink) owned by this user and closed to others. /tmp/cm-<uid> could otherwise be planted.
 */
export function ensureStateDirs(state: string, runs: string, uid: number): void {
  mkdirSync(state, { recursive: true, mode: 0o700 });
  checkStateDir(state, uid);
  mkdirSync(runs, { recursive: true, mode: 0o700 });
}

/**
 * Every command that reads state checks this first: what is in the state directory (run records
 * naming a runtime binary, runtime state) is trusted only when nobody else could have written it.
 * A state directory that does not exist yet is fine.
 */
export function checkStateDir(state: string, uid: number): void {
  let st: Stats;
  try {
    st = lstatSync(state);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new CmError("unsafe-state-dir", `state directory ${state} is not a private directory owned by you`, {
      hint: "remove it, or set CM_STATE_DIR (or XDG_RUNTIME_DIR) to a directory only you can use",
    });
  }
}

export function readRun(runs: string, id: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(runs, id, "run.json"), "utf8")) as RunRecord;
  } catch {
    return undefined;
  }
}

export function listRuns(runs: string): RunRecord[] {
  const out: RunRecord[] = [];
  // dot-names are run directories still being filled (createRunDir), not runs yet
  for (const id of readDirOrEmpty(runs).filter((n) => !n.startsWith("."))) {
    const r = readRun(runs, id);
    if (r) out.push(r);
  }
  return out;
}
