/**
 * Per-run state: <state>/runs/<id>/ holds the final config.json given to runc and run.json, the
 * record of what this container is (project, bundle, command). The record is written before runc
 * starts, so every container cm started can be found, stopped and cleaned up from it.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CmError, isErrno } from "../errors.ts";

export interface RunRecord {
  id: string;
  projectKey: string;
  projectName: string;
  bundle: string;
  projectPath: string;
  command: string[];
  started: string;
  /** pid of the cm process that started it (foreground runs) */
  cmPid: number;
}

export function runDir(runs: string, id: string): string {
  return join(runs, id);
}

/**
 * Creates the state directories, and checks that the state directory is ours: a directory (not a
 * symlink) owned by this user and closed to others. /tmp/cm-<uid> could otherwise be planted.
 */
export function ensureStateDirs(state: string, runs: string, uid: number): void {
  mkdirSync(state, { recursive: true, mode: 0o700 });
  const st = lstatSync(state);
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new CmError("unsafe-state-dir", `state directory ${state} is not a private directory owned by you`, {
      hint: "remove it, or set CM_STATE_DIR (or XDG_RUNTIME_DIR) to a directory only you can use",
    });
  }
  mkdirSync(runs, { recursive: true, mode: 0o700 });
}

export function readRun(runs: string, id: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(runs, id, "run.json"), "utf8")) as RunRecord;
  } catch {
    return undefined;
  }
}

export function listRuns(runs: string): RunRecord[] {
  let ids: string[];
  try {
    ids = readdirSync(runs);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
  const out: RunRecord[] = [];
  for (const id of ids) {
    const r = readRun(runs, id);
    if (r) out.push(r);
  }
  return out;
}
