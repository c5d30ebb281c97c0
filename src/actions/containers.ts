/**
 * cm's containers as ps, exec, stop, logs and gc see them: the run records in <state>/runs, each
 * with a status worked out from files and /proc alone (no runtime invocation):
 *
 *   running   the container's init is alive
 *   starting  its owner (cm run, or a detached run's monitor) lives, the init is not there yet
 *   exited    a detached run ended: exit.json holds its status, container.log its output
 *   gone      its owner died and so did the container (cm run killed): left for cm gc
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runtimeKind } from "../core/run/runtime.ts";
import { CmError } from "../errors.ts";
import { sameProcess, startedBy } from "../host/pid.ts";
import { findTool } from "../host/tools.ts";
import { OciRuntime } from "../runtime/oci-runtime.ts";
import { type ExitRecord, listRuns, pidWrittenAt, type RunRecord, readExit, readPid, readRun, runDir } from "../store/runs.ts";
import type { Context } from "./context.ts";
import { resolveProject } from "./project.ts";

export type Status = "running" | "starting" | "exited" | "gone";
const ALL_STATUSES: readonly Status[] = ["running", "starting", "exited", "gone"];

export interface Container {
  record: RunRecord;
  dir: string;
  status: Status;
  /** the container's init pid, once known */
  pid: number | undefined;
  /** whether the cm process (or monitor) that owns it is alive */
  ownerAlive: boolean;
  exit: ExitRecord | undefined;
}

export function runtimeOf(ctx: Context, record: RunRecord): OciRuntime {
  if (record.runtime) return new OciRuntime(record.runtime.binary, record.runtime.root, record.runtime.flags);
  return new OciRuntime(findTool("runc") ?? "runc", ctx.layout.runcRoot);
}

export function inspect(dir: string, record: RunRecord): Container {
  let exit = readExit(dir);
  const pid = readPid(dir);
  const ownerAlive = sameProcess(record.cmPid, record.cmStart);
  let status: Status;
  if (exit) status = "exited";
  // A stored pid is checked, never trusted: after the container died (with its monitor, or at a
  // reboot) the pid may belong to another process, started after the runtime wrote the pid file.
  else if (pid !== undefined && isContainerInit(record, pid, dir)) status = "running";
  else if (ownerAlive) status = "starting";
  else {
    // The owner records the exit before it ends: read again, it may have done both since the first read.
    exit = readExit(dir);
    status = exit ? "exited" : "gone";
  }
  return { record, dir, status, pid: status === "running" ? pid : undefined, ownerAlive, exit };
}

/**
 * Whether `pid` (from the run's pid file) is still the container's init. runc records the init's
 * pid and start time in its state (`<root>/<id>/state.json`: init_process_pid, init_process_start,
 * the /proc/PID/stat start time): when it is there, the start time must match. Otherwise (other
 * runtimes, or state removed) the process must have started before the runtime wrote the pid file:
 * one started after it was only given the same pid.
 */
function isContainerInit(record: RunRecord, pid: number, dir: string): boolean {
  if (record.runtime && runtimeKind(record.runtime.binary) === "runc") {
    const state = runcInitProcess(record.runtime.root, record.id);
    if (state && state.pid === pid) return sameProcess(pid, state.start);
  }
  return startedBy(pid, pidWrittenAt(dir) ?? 0);
}

function runcInitProcess(root: string, id: string): { pid: number; start: number } | undefined {
  try {
    const s = JSON.parse(readFileSync(join(root, id, "state.json"), "utf8")) as {
      init_process_pid?: unknown;
      init_process_start?: unknown;
    };
    return typeof s.init_process_pid === "number" && typeof s.init_process_start === "number"
      ? { pid: s.init_process_pid, start: s.init_process_start }
      : undefined;
  } catch {
    return undefined;
  }
}

export function containers(ctx: Context): Container[] {
  return listRuns(ctx.layout.runs)
    .map((r) => inspect(runDir(ctx.layout.runs, r.id), r))
    .sort((a, b) => a.record.started.localeCompare(b.record.started));
}

/**
 * CONTAINER as the user names it: a full ID, a unique ID prefix (among containers in `statuses`),
 * or a bundle name of the current project with exactly one running container.
 */
export function resolveContainer(ctx: Context, name: string, statuses: readonly Status[]): Container {
  if (name === "" || name.includes("/") || name.includes("\0")) {
    throw new CmError("bad-name", `invalid container ${JSON.stringify(name)}`, { hint: "give an ID (see cm ps) or a bundle name" });
  }
  // An ID as cm makes them (host/random.ts): that run alone, so naming one costs the same with
  // one container as with a hundred (cm exec ID is on the path the bench times).
  const one = /^[0-9a-f]{12}$/.test(name) ? readRun(ctx.layout.runs, name) : undefined;
  if (one?.id === name) return inspect(runDir(ctx.layout.runs, name), one);
  const all = containers(ctx);
  const exact = all.find((c) => c.record.id === name);
  if (exact) return exact;
  const wanted = all.filter((c) => statuses.includes(c.status));
  const byPrefix = wanted.filter((c) => c.record.id.startsWith(name));
  let byBundle: Container[] = [];
  let projectName: string | undefined;
  try {
    const project = resolveProject(ctx, undefined, { cwdIsProject: false });
    const path = project.path;
    projectName = project.name;
    // A bundle name means that bundle's container in this directory's project: a running one
    // when there is one; otherwise (logs of ended runs) the most recently started.
    const ofBundle = wanted.filter((c) => c.record.projectPath === path && c.record.bundle === name);
    const live = ofBundle.filter((c) => c.status === "running" || c.status === "starting");
    if (live.length > 0) byBundle = live;
    else if (ofBundle.length > 0) byBundle = [ofBundle.reduce((a, b) => (b.record.started > a.record.started ? b : a))];
  } catch {
    // not in a project directory: only IDs
  }
  const matches = [...new Set([...byPrefix, ...byBundle])];
  if (matches.length === 1) return matches[0] as Container;
  if (matches.length === 0) {
    // every status: just "no container"; otherwise the ones asked for ("no running or starting container")
    const what = ALL_STATUSES.every((s) => statuses.includes(s)) ? "" : `${statuses.join(" or ")} `;
    const named = `no ${what}container ${JSON.stringify(name)}${projectName ? `: not an ID, ID prefix or bundle name in project ${projectName}` : ""}`;
    throw new CmError("no-container", named, { hint: "see cm ps --all for IDs" });
  }
  throw new CmError(
    "ambiguous-container",
    `${JSON.stringify(name)} matches ${matches.length} containers: ${matches.map((c) => c.record.id).join(", ")}`,
    {
      hint: "give a longer ID prefix or the full ID: see cm ps",
    },
  );
}

export function requireRunning(c: Container): void {
  if (c.status !== "running") {
    throw new CmError("not-running", `container ${c.record.id} is not running: its status is ${c.status}`, { hint: "see cm ps --all" });
  }
}

export function logPath(c: Container): string {
  return join(c.dir, "container.log");
}
