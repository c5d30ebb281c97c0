/**
 * cm delete [PROJECT [BUNDLE]]: stop what runs, then remove the bundles.
 *
 *   1. take each bundle's lock (a create or delete in progress is a clear error)
 *   2. rename each bundle directory to a dot-name: from here on no new run can find it
 *   3. stop its containers (SIGTERM, SIGKILL after the grace period), remove their runc state
 *   4. stop any process still rooted in it (a container whose runc state is gone)
 *   5. remove the tree (never crossing into a mount; odd modes fixed up)
 * If a tree cannot be removed (a mount inside it), it stays aside as .<bundle>.deleting-<pid>:
 * never taken for a bundle, reported by cm list, retried by the next delete (with the stale
 * .<bundle>.creating-<pid> of a create that was killed).
 * The project directory on the host is never touched: it is only ever bind-mounted.
 */
import { readdirSync, renameSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { checkBundleName } from "../core/names.ts";
import { CmError } from "../errors.ts";
import { removeTree } from "../host/fs.ts";
import { processesRootedIn, processesWorkingIn, stopProcesses } from "../host/procs.ts";
import { stopContainer } from "../runtime/stop.ts";
import { bundleDir, bundleNames, projectDir, strayEntries } from "../store/bundles.ts";
import { leftovers } from "../store/leftovers.ts";
import { type Lock, tryLock } from "../store/lock.ts";
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
 * Deletes the bundles (only entries cm list calls bundles: real directories with a config.json,
 * never through a symlink) and returns their names; `kept` gets what else is in the project's data
 * directory (a file, a symlink, a stray folder), which is reported, not removed.
 */
export async function deleteBundles(ctx: Context, opts: DeleteOptions, kept: string[] = []): Promise<string[]> {
  const bundle = opts.bundle === undefined ? undefined : checkBundleName(opts.bundle);
  const project = resolveProject(ctx, opts.project, { cwdIsProject: false });
  const key = project.key;
  const projectName = project.name;
  const existing = bundleNames(ctx.layout.data, key);
  if (bundle === undefined) kept.push(...strayEntries(ctx.layout.data, key).map((n) => join(projectDir(ctx.layout.data, key), n)));
  // What an interrupted create or delete left behind (its cm is gone): retried here.
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

  const pdir = projectDir(ctx.layout.data, key);
  const locks: Lock[] = [];
  const remove: { bundle: string; dir: string }[] = [];
  const failures: { bundle: string; dir: string; err: unknown }[] = [];
  try {
    for (const b of new Set([...targets, ...stale.map((l) => l.bundle)])) {
      const lock = tryLock(join(pdir, `.${b}.lock`));
      if (!("release" in lock)) {
        throw new CmError("bundle-busy", `bundle ${JSON.stringify(b)} is being created or deleted by another cm (pid ${lock.heldBy})`, {
          hint: "wait for it to finish, then try again",
        });
      }
      locks.push(lock);
    }
    for (const b of targets) {
      const aside = join(pdir, `.${b}.deleting-${process.pid}`);
      renameSync(bundleDir(ctx.layout.data, key, b), aside);
      remove.push({ bundle: b, dir: aside });
    }
    for (const l of stale) remove.push({ bundle: l.bundle, dir: l.dir });
    await stopRuns(ctx, key, bundle, opts.grace);
    for (const r of remove) {
      try {
        // A process still rooted in the tree (a container whose runc state is gone) is stopped
        // first: a root filesystem is never removed under a live process.
        const rootfs = join(r.dir, "rootfs");
        await stopProcesses(() => processesRootedIn(rootfs), opts.grace, rootfs);
        // A leftover of a killed create may still have its extracting tar at work.
        if (!r.dir.includes(".deleting-")) await stopProcesses(() => processesWorkingIn(r.dir), 0, r.dir);
        removeTree(r.dir);
      } catch (err) {
        failures.push({ ...r, err });
      }
    }
  } finally {
    for (const l of locks) l.release();
  }
  const first = failures[0];
  if (first) {
    const why = first.err instanceof CmError ? first.err : undefined;
    throw new CmError(
      "delete-incomplete",
      `bundle ${JSON.stringify(first.bundle)} not removed: ${why ? why.message : String((first.err as Error)?.message ?? first.err)}`,
      {
        hint: `${why?.hint ? `${why.hint}; ` : ""}it is kept aside as ${first.dir} (cm list reports it) and the next cm delete ${projectName} retries it`,
        cause: first.err,
      },
    );
  }
  // The project directory goes when its last bundle does.
  try {
    if (readdirSync(pdir).length === 0) rmdirSync(pdir);
  } catch {
    // not empty or already gone
  }
  return [...new Set(remove.map((r) => r.bundle))];
}

/** Stops every container cm started for this project (or bundle) and removes its run state. */
async function stopRuns(ctx: Context, key: string, bundle: string | undefined, grace: number): Promise<void> {
  const runs = listRuns(ctx.layout.runs).filter((r) => r.projectKey === key && (bundle === undefined || r.bundle === bundle));
  if (runs.length === 0) return;
  await Promise.all(runs.map((r) => stopContainer(runtimeOf(ctx, r), r.id, grace)));
  for (const r of runs) removeTree(runDir(ctx.layout.runs, r.id));
}
