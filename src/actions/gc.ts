/**
 * cm gc: removes what killed or crashed runs left behind, and says what it removed.
 *
 *   - run directories whose owner (cm run, or a detached run's monitor) is dead and whose container
 *     has ended: exited detached runs (with their logs) and runs of a killed cm; their runtime state
 *     too, when the runtime could not remove it (it was killed as well);
 *   - runtime state of cm's own containers that have no run record (records are written before a
 *     container starts, so such state is never a run in progress);
 *   - interrupted creates and deletes: <data>/<project>/.<bundle>.creating-<pid> and
 *     .<bundle>.deleting-<pid> whose pid is dead;
 *   - --ephemeral layers (<data>/.ephemeral/<id>) whose run has ended (a killed cm, a reboot that
 *     emptied the state tmpfs), and layers and run directories a killed cm left half made or half
 *     removed (.<id>.making-<pid>, .<id>.removing-<pid>).
 * A container that still runs is never touched: its cm may be gone, but it is stopped with cm stop.
 * Only reads directories and /proc unless something is stale, so it is cheap when nothing is.
 */
import { lstatSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { escapeControls } from "../core/names.ts";
import { EPHEMERAL_OWNER_FILE, type EphemeralOwner } from "../core/run/sandbox.ts";
import { CmError, isErrno } from "../errors.ts";
import { removeContainerCgroups } from "../host/cgroups.ts";
import { LAYER_WORK, readDirOrEmpty, removeLayer, removeTree } from "../host/fs.ts";
import { alive, sameProcess } from "../host/pid.ts";
import { findTool } from "../host/tools.ts";
import { processesRootedIn } from "../host/tree-users.ts";
import { damagedReviews } from "../review/store.ts";
import { OciRuntime } from "../runtime/oci-runtime.ts";
import { projectKeys } from "../store/bundles.ts";
import { clearStaleLock, isLockName, takeoversFirst } from "../store/lock.ts";
import { listRuns } from "../store/runs.ts";
import { containers, runtimeOf } from "./containers.ts";
import type { Context } from "./context.ts";

export interface GcReport {
  /** one line per thing removed */
  removed: string[];
  /** containers left alone because they still run without their cm */
  kept: string[];
}

export interface GcOptions {
  /** keep exited detached runs (their logs): what the opportunistic gc of other commands does */
  keepExited?: boolean | undefined;
}

/**
 * The opportunistic gc of `cm run -d` and `cm create`: exited detached runs are kept (their logs are
 * the user's), nothing is printed, and a failure never fails the command. Measured: about 0.5 ms
 * with five running containers and nothing stale (no runtime invoked then).
 */
export function quietGc(ctx: Context): void {
  try {
    gc(ctx, { keepExited: true });
  } catch {
    // cm gc reports what it cannot remove
  }
}

export function gc(ctx: Context, opts: GcOptions = {}): GcReport {
  const report: GcReport = { removed: [], kept: [] };
  for (const c of containers(ctx)) {
    if (opts.keepExited && c.status === "exited") continue;
    // An exit record is the monitor's last act: after it, nothing uses the run directory.
    if (c.ownerAlive && c.status !== "exited") continue;
    if (c.status === "running") {
      report.kept.push(`${c.record.id} still runs without its cm (stop it: cm stop ${c.record.id})`);
      continue;
    }
    const runtime = runtimeOf(ctx, c.record);
    if (runtime.hasState(c.record.id)) {
      runtime.delete(c.record.id);
      if (runtime.hasState(c.record.id)) runtime.removeStateFiles(c.record.id);
      report.removed.push(`runtime state of ${c.record.id}`);
    }
    removeTree(c.dir);
    // its runtime state was lost (runc killed): the cgroups it made are still there
    for (const cg of removeContainerCgroups(c.record.id)) report.removed.push(`cgroup ${cg}`);
    report.removed.push(
      `run ${c.record.id} (${c.status === "exited" ? (c.exit?.status == null ? "ended, exit status unknown: its monitor was gone" : `exited ${c.exit.status}`) : "its cm was killed"}, ${c.record.projectName}/${c.record.bundle})`,
    );
  }
  // Runtime state without a record: runtimes keep one directory per container ID under their root.
  const known = new Set(listRuns(ctx.layout.runs).map((r) => r.id));
  for (const rootName of readDirOrEmpty(ctx.layout.state).filter((n) => n === "runc" || n.startsWith("runtime-"))) {
    const root = join(ctx.layout.state, rootName);
    const name = rootName === "runc" ? "runc" : rootName.slice("runtime-".length);
    const runtime = new OciRuntime(findTool(name) ?? name, root);
    for (const id of runtime.stateIds()) {
      if (known.has(id) || !/^[0-9a-f]{12}$/.test(id)) continue;
      if (runtime.binary.startsWith("/")) runtime.delete(id);
      if (runtime.hasState(id)) runtime.removeStateFiles(id);
      report.removed.push(`runtime state of ${id} (no run record)`);
      for (const cg of removeContainerCgroups(id)) report.removed.push(`cgroup ${cg}`);
    }
  }
  layerLeftovers(ctx, report);
  // Interrupted creates and deletes.
  for (const key of projectKeys(ctx.layout.data)) {
    const pdir = join(ctx.layout.data, key);
    for (const name of readDirOrEmpty(pdir)) {
      const m = /^\.([A-Za-z0-9][A-Za-z0-9._-]*)\.(creating|deleting)-(\d+)$/.exec(name);
      if (!m || alive(Number(m[3]))) continue;
      const what = `${m[2] === "creating" ? "interrupted create" : "interrupted delete"} of ${key}/${m[1]}`;
      // A container (a post_create of the killed create) may still run on it: never pull its root away.
      const users = processesRootedIn(join(pdir, name, "rootfs"));
      if (users.length > 0) {
        report.kept.push(`${what}: process ${users[0]} still runs in it (kill ${users[0]}, then cm gc again)`);
        continue;
      }
      try {
        removeTree(join(pdir, name));
        report.removed.push(what);
      } catch (err) {
        report.kept.push(`${what}: could not remove it: ${err instanceof CmError ? err.message : (err as Error).message}`);
      }
    }
    // Locks of cm processes that are gone (killed with -9): a lock names its owner (store/lock.ts),
    // and so does the lock of a takeover; an older cm moved a stale lock aside to .stale-<pid>.
    // takeover locks first: a dead taker's would keep the stale lock it was clearing busy
    for (const name of takeoversFirst(readDirOrEmpty(pdir), String)) {
      const aside = /\.lock\.stale-(\d+)$/.exec(name);
      if (aside) {
        if (alive(Number(aside[1]))) continue;
        removeTree(join(pdir, name));
        report.removed.push(`stale lock ${key}/${name}`);
        continue;
      }
      if (!isLockName(name)) continue;
      if (clearStaleLock(join(pdir, name))) {
        report.removed.push(`stale lock ${key}/${name}`);
      }
    }
    try {
      if (readDirOrEmpty(pdir).length === 0) rmdirSync(pdir);
    } catch {
      // not empty, or not ours to remove
    }
  }
  return report;
}

/** How long a layer that names no owner (one being made, or junk) is left alone: 10 minutes. */
const UNNAMED_LAYER_GRACE_MS = 10 * 60_000;

/**
 * Whether the ephemeral layer's run may still be going: its run directory is there (or cannot be
 * looked at), or the process that made the layer lives. The run directory may be in another state
 * directory than this cm's, or out of its sight (another mount namespace; a /run/user/UID that
 * logind removed at logout while a detached run went on): the owner process covers those.
 */
function layerInUse(layer: string): boolean {
  let owner: EphemeralOwner;
  try {
    owner = JSON.parse(readFileSync(join(layer, EPHEMERAL_OWNER_FILE), "utf8")) as EphemeralOwner;
  } catch {
    // not cm's (or an older cm's made in place): left alone for a while
    const st = lstatSync(layer, { throwIfNoEntry: false });
    return st !== undefined && Date.now() - st.mtimeMs < UNNAMED_LAYER_GRACE_MS;
  }
  if (typeof owner.pid === "number" && sameProcess(owner.pid, owner.start ?? undefined)) return true;
  if (typeof owner.runDir !== "string") return false;
  try {
    lstatSync(owner.runDir);
    return true;
  } catch (err) {
    return !isErrno(err, "ENOENT"); // EACCES, ENOTDIR...: cannot tell, so it stays
  }
}

/**
 * Removes the --ephemeral layers whose run has ended (layerInUse), the locks of reviews whose cm
 * was killed, and what a killed cm left half made or half removed (layers, run directories);
 * names the reviews whose record cannot be read (kept: cm discard ID removes one).
 */
function layerLeftovers(ctx: Context, report: GcReport): void {
  for (const d of damagedReviews(ctx.layout)) {
    report.kept.push(
      `damaged review ${escapeControls(d.id)} (its review.json cannot be read; remove it with cm discard ${escapeControls(d.id)})`,
    );
  }
  // the locks of reviews (apply, discard) whose cm was killed
  for (const name of takeoversFirst(readDirOrEmpty(ctx.layout.reviews), String)) {
    if (isLockName(name) && clearStaleLock(join(ctx.layout.reviews, name))) {
      report.removed.push(`stale lock of review ${name.replace(/^\.|\.lock(\.takeover)?$/g, "")}`);
    }
  }
  for (const root of [ctx.layout.ephemeral, ctx.layout.reviews, ctx.layout.runs]) {
    for (const name of readDirOrEmpty(root)) {
      const m = LAYER_WORK.exec(name);
      if (!m || alive(Number(m[3]))) continue;
      try {
        removeTree(join(root, name));
        const what = root === ctx.layout.reviews ? "review" : root === ctx.layout.runs ? "run directory" : "--ephemeral changes of run";
        report.removed.push(`interrupted ${m[2] === "making" ? "start" : "removal"} of ${what} ${m[1]}`);
      } catch (err) {
        report.kept.push(`${join(root, name)}: could not remove it: ${err instanceof CmError ? err.message : (err as Error).message}`);
      }
    }
  }
  for (const root of [ctx.layout.ephemeral, ctx.layout.reviews]) {
    try {
      rmdirSync(root); // when nothing is left in it
    } catch {
      // not empty, or not there
    }
  }
  for (const name of readDirOrEmpty(ctx.layout.ephemeral)) {
    if (LAYER_WORK.test(name)) continue;
    const layer = join(ctx.layout.ephemeral, name);
    if (layerInUse(layer)) continue;
    try {
      removeLayer(layer);
      report.removed.push(`--ephemeral changes of run ${name} (its run is gone)`);
    } catch (err) {
      report.kept.push(
        `--ephemeral changes of run ${name}: could not remove them: ${err instanceof CmError ? err.message : (err as Error).message}`,
      );
    }
  }
}
