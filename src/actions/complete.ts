/** The names `cm __complete` offers the completion scripts: bundles of a project, projects, container IDs. */
import { realpathSync } from "node:fs";
import { basename } from "node:path";
import { projectKey } from "../core/names.ts";
import { bundleNames, listBundles } from "../store/bundles.ts";
import { listRuns } from "../store/runs.ts";
import type { Context } from "./context.ts";

/**
 * `kind` "bundles" (of project `arg`, default the current directory's), "projects" or
 * "containers"; anything else offers nothing. Throws what reading the disk throws.
 */
export function completionNames(ctx: Context, kind: string | undefined, arg: string | undefined): string[] {
  if (kind === "bundles") return bundleNames(ctx.layout.data, projectKey(arg ?? basename(realpathSync(ctx.cwd))));
  if (kind === "projects") return [...new Set(listBundles(ctx.layout.data).map((b) => b.projectName))];
  if (kind === "containers") return listRuns(ctx.layout.runs).map((r) => r.id);
  return [];
}
