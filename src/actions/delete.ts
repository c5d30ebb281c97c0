/**
 * cm delete [PROJECT [BUNDLE]]: stop what runs, then remove the bundles.
 *
 *   1. take each bundle's lock (a create or delete in progress is a clear error)
 *   2. rename each bundle directory to a dot-name: from here on no new run can find it
 *   3. stop its containers (SIGTERM, SIGKILL after the grace period), remove their runc state
 *   4. remove the tree (never crossing into a mount; odd modes fixed up)
 * The project directory on the host is never touched: it is only ever bind-mounted.
 */
import { readdirSync, renameSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { checkBundleName } from "../core/names.ts";
import { CmError } from "../errors.ts";
import { removeTree } from "../host/fs.ts";
import { stopContainer } from "../runtime/stop.ts";
import { bundleDir, bundleNames, projectDir } from "../store/bundles.ts";
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

export async function deleteBundles(ctx: Context, opts: DeleteOptions): Promise<string[]> {
  const bundle = opts.bundle === undefined ? undefined : checkBundleName(opts.bundle);
  const project = resolveProject(ctx, opts.project, { cwdIsProject: false });
  const key = project.key;
  const projectName = project.name;
  const existing = bundleNames(ctx.layout.data, key);
  if (existing.length === 0) {
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
  const targets = bundle === undefined ? existing : [bundle];
  if (bundle !== undefined && !existing.includes(bundle)) {
    throw new CmError("no-bundle", `no bundle ${JSON.stringify(bundle)} in project ${JSON.stringify(projectName)}`, {
      hint: `existing bundles: ${existing.join(", ")}`,
    });
  }

  const pdir = projectDir(ctx.layout.data, key);
  const locks: Lock[] = [];
  const moved: { bundle: string; dir: string }[] = [];
  try {
    for (const b of targets) {
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
      moved.push({ bundle: b, dir: aside });
    }
    await stopRuns(ctx, key, bundle, opts.grace);
    for (const m of moved) removeTree(m.dir);
  } finally {
    for (const l of locks) l.release();
  }
  // The project directory goes when its last bundle does.
  try {
    if (readdirSync(pdir).length === 0) rmdirSync(pdir);
  } catch {
    // not empty or already gone
  }
  return targets;
}

/** Stops every container cm started for this project (or bundle) and removes its run state. */
async function stopRuns(ctx: Context, key: string, bundle: string | undefined, grace: number): Promise<void> {
  const runs = listRuns(ctx.layout.runs).filter((r) => r.projectKey === key && (bundle === undefined || r.bundle === bundle));
  if (runs.length === 0) return;
  await Promise.all(runs.map((r) => stopContainer(runtimeOf(ctx, r), r.id, grace)));
  for (const r of runs) removeTree(runDir(ctx.layout.runs, r.id));
}
