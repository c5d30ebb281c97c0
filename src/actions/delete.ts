/**
 * cm delete [PROJECT [BUNDLE]]: stop what runs, then remove the bundles.
 *
 *   1. take each bundle's lock (a create or delete in progress is a clear error)
 *   2. rename each bundle directory to a dot-name: from here on no new run can find it
 *   3. stop its containers (SIGTERM, SIGKILL after the grace period) through the runtime each was
 *      started with, remove their runtime state and run directories; a run still starting (its cm
 *      alive, the runtime not yet running it) is waited for and then stopped, so that it cannot
 *      start after the stop in a tree being removed
 *   4. stop any process still rooted in it (a container whose runtime state is gone)
 *   5. remove the tree (never crossing into a mount; odd modes fixed up)
 * If a tree cannot be removed (a mount inside it), it stays aside as .<bundle>.deleting-<pid>:
 * never taken for a bundle, reported by cm list, retried by the next delete (with the stale
 * .<bundle>.creating-<pid> of a create that was killed).
 * The project directory on the host is never touched: it is only ever bind-mounted.
 */
import { readdirSync, renameSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { checkBundleName, displayName } from "../core/names.ts";
import { CmError } from "../errors.ts";
import { removeTree } from "../host/fs.ts";
import { sameProcess } from "../host/pid.ts";
import { processesRootedIn, processesWorkingIn, stopProcesses } from "../host/tree-users.ts";
import { listReviews } from "../review/store.ts";
import { stopContainer } from "../runtime/stop.ts";
import { bundleDir, bundleNames, lockBundle, projectDir, strayEntries } from "../store/bundles.ts";
import { type Leftover, leftovers } from "../store/leftovers.ts";
import type { Lock } from "../store/lock.ts";
import { listRuns, runDir } from "../store/runs.ts";
import { runtimeOf } from "./containers.ts";
import type { Context } from "./context.ts";
import { firstBundle, resolveProject } from "./project.ts";

export interface DeleteOptions {
  project?: string | undefined;
  bundle?: string | undefined;
  /** seconds between SIGTERM and SIGKILL */
  grace: number;
}

/**
 * Deletes the bundles (see the steps above; only entries cm list calls bundles: real directories
 * with a config.json, never through a symlink) and returns their names; `kept` gets what else is in
 * the project's data directory (a file, a symlink, a stray folder), which is reported, not removed;
 * `notes` gets one line (without "cm: ") when pending reviews of what was deleted stay (cm gc keeps them too).
 */
export async function deleteBundles(ctx: Context, opts: DeleteOptions, kept: string[] = [], notes: string[] = []): Promise<string[]> {
  const plan = planDelete(ctx, opts, kept);
  const pdir = projectDir(ctx.layout.data, plan.key);
  const remove: { bundle: string; dir: string }[] = [];
  const failures: { bundle: string; dir: string; err: unknown }[] = [];
  const locks = lockBundles(pdir, new Set([...plan.targets, ...plan.stale.map((l) => l.bundle)]));
  try {
    for (const b of plan.targets) {
      const aside = join(pdir, `.${b}.deleting-${process.pid}`);
      renameSync(bundleDir(ctx.layout.data, plan.key, b), aside);
      remove.push({ bundle: b, dir: aside });
    }
    for (const l of plan.stale) remove.push({ bundle: l.bundle, dir: l.dir });
    await stopRuns(ctx, plan.key, plan.bundle, opts.grace);
    for (const r of remove) {
      try {
        await removeAside(r.dir, opts.grace);
      } catch (err) {
        failures.push({ ...r, err });
      }
    }
  } finally {
    for (const l of locks) l.release();
  }
  const first = failures[0];
  if (first) throw incomplete(first, plan.projectName);
  // The project directory goes when its last bundle does.
  try {
    if (readdirSync(pdir).length === 0) rmdirSync(pdir);
  } catch {
    // not empty or already gone
  }
  const reviews = listReviews(ctx.layout).filter(
    (r) => r.projectKey === plan.key && (plan.bundle === undefined || r.bundle === plan.bundle),
  );
  if (reviews.length > 0) {
    const n = reviews.length;
    notes.push(
      `kept ${n} pending review${n === 1 ? "" : "s"} of ${displayName(plan.projectName)}: ${reviews.map((r) => r.id).join(", ")} (cm diff / cm apply / cm discard ID)`,
    );
  }
  return [...new Set(remove.map((r) => r.bundle))];
}

interface DeletePlan {
  key: string;
  projectName: string;
  /** the bundle named, if one was */
  bundle: string | undefined;
  /** complete bundles to delete */
  targets: string[];
  /** what an interrupted create or delete left behind (its cm is gone): retried here */
  stale: Leftover[];
}

/** What to delete (strays go to `kept`); nothing is touched. Refuses an unknown project or bundle, and another directory's project. */
function planDelete(ctx: Context, opts: DeleteOptions, kept: string[]): DeletePlan {
  const bundle = opts.bundle === undefined ? undefined : checkBundleName(opts.bundle);
  const project = resolveProject(ctx, opts.project, { cwdIsProject: false });
  const key = project.key;
  const projectName = project.name;
  const existing = bundleNames(ctx.layout.data, key);
  if (bundle === undefined) kept.push(...strayEntries(ctx.layout.data, key).map((n) => join(projectDir(ctx.layout.data, key), n)));
  const stale = leftovers(ctx.layout.data, key).filter((l) => !l.live && (bundle === undefined || l.bundle === bundle));
  if (existing.length === 0 && stale.length === 0 && kept.length === 0) {
    throw new CmError("no-project", `no project ${JSON.stringify(projectName)} to delete`, { hint: "see what exists with cm list" });
  }
  // Without a name, the project is this directory's: bundles recorded for another directory of
  // the same name are not deleted by accident.
  const owner = firstBundle(ctx, key);
  if (!project.explicit && owner && owner.projectPath !== project.path) {
    throw new CmError(
      "project-mismatch",
      `project ${JSON.stringify(projectName)} belongs to ${owner.projectPath}, not to this directory ${project.path}`,
      {
        hint: `to delete it anyway, name it: cm delete ${JSON.stringify(projectName)}`,
      },
    );
  }
  const targets = bundle === undefined ? existing : existing.filter((b) => b === bundle);
  if (bundle !== undefined && targets.length === 0 && stale.length === 0) {
    throw new CmError("no-bundle", `no bundle ${JSON.stringify(bundle)} in project ${JSON.stringify(projectName)}`, {
      hint: `existing bundles: ${existing.join(", ")}`,
    });
  }
  return { key, projectName, bundle, targets, stale };
}

/** Takes every bundle's lock, or none: a create or delete in progress is a clear error. */
function lockBundles(pdir: string, bundles: Set<string>): Lock[] {
  const locks: Lock[] = [];
  try {
    for (const b of bundles) locks.push(lockBundle(pdir, b));
  } catch (err) {
    for (const l of locks) l.release();
    throw err;
  }
  return locks;
}

/** Removes a bundle tree renamed aside (or a leftover), after stopping any process still in it. */
async function removeAside(dir: string, grace: number): Promise<void> {
  // A process still rooted in the tree (a container whose runc state is gone) is stopped
  // first: a root filesystem is never removed under a live process.
  const rootfs = join(dir, "rootfs");
  await stopProcesses(() => processesRootedIn(rootfs), grace, rootfs);
  // A leftover of a killed create may still have its extracting tar at work.
  if (!dir.includes(".deleting-")) await stopProcesses(() => processesWorkingIn(dir), 0, dir);
  removeTree(dir);
}

/** The error for a tree that could not be removed: kept aside, retried by the next delete. */
function incomplete(failure: { bundle: string; dir: string; err: unknown }, projectName: string): CmError {
  const why = failure.err instanceof CmError ? failure.err : undefined;
  return new CmError(
    "delete-incomplete",
    `bundle ${JSON.stringify(failure.bundle)} not removed: ${why ? why.message : String((failure.err as Error)?.message ?? failure.err)}`,
    {
      hint: `${why?.hint ? `${why.hint}; ` : ""}it is kept aside as ${failure.dir} (cm list reports it) and the next cm delete ${projectName} retries it`,
      cause: failure.err,
    },
  );
}

/** Stops every container cm started for this project (or bundle) and removes its run state. */
async function stopRuns(ctx: Context, key: string, bundle: string | undefined, grace: number): Promise<void> {
  const runs = listRuns(ctx.layout.runs).filter((r) => r.projectKey === key && (bundle === undefined || r.bundle === bundle));
  if (runs.length === 0) return;
  // A run still starting is waited for: stopped once it runs, never left to start in a tree being removed.
  await Promise.all(runs.map((r) => stopContainer(runtimeOf(ctx, r), r.id, grace, { ownerAlive: () => sameProcess(r.cmPid, r.cmStart) })));
  for (const r of runs) removeTree(runDir(ctx.layout.runs, r.id));
}
