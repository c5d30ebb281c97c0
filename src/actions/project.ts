/**
 * Which project a command is about: the current directory (its name, its real path), or the
 * project named with --project. A bundle remembers its project's real path; using it from a
 * different directory of the same name is refused, so cm never mounts the wrong directory.
 */
import { basename, dirname, join, relative } from "node:path";
import { checkProjectName, displayName, projectKey } from "../core/names.ts";
import { isWithin } from "../core/path.ts";
import { CmError } from "../errors.ts";
import { realPath } from "../host/fs.ts";
import { type BundleInfo, bundleNames, readBundle } from "../store/bundles.ts";
import type { Context } from "./context.ts";

export interface Project {
  name: string;
  key: string;
  /** Real path of the directory: the current one, or (for an explicit --project) the recorded one. */
  path: string;
  explicit: boolean;
  /** Set when the current directory is below the project's: its path relative to the project. */
  subdir?: string | undefined;
  /** The bundle read to find the project (enclosingProject): requireBundle does not read it again. */
  seen?: BundleInfo | undefined;
}

/** The current directory as a project: refuses /, $HOME itself and cm's own directories. */
export function currentDirectory(ctx: Context): string {
  const cwd = ctx.cwd; // throws when Node cannot name it (actions/context.ts)
  let real: string;
  try {
    real = realPath(cwd);
  } catch (err) {
    if (err instanceof CmError) throw err;
    throw new CmError("no-cwd", "the current directory no longer exists", { hint: "cd into your project directory" });
  }
  if (real === "/") throw new CmError("bad-project", "refusing / as a project directory", { hint: "cd into your project directory first" });
  let home = ctx.home;
  try {
    home = realPath(ctx.home);
  } catch (err) {
    if (err instanceof CmError) throw err;
    // no home directory: nothing to compare
  }
  if (real === home) {
    throw new CmError(
      "bad-project",
      `refusing your home directory ${real} as a project: it would be mounted read-write into the container`,
      {
        hint: "cd into a project directory below it",
      },
    );
  }
  refuseOwnDirs(ctx, real);
  return real;
}

/**
 * Refuses `projectPath` (a real path) when it contains or is inside one of cm's own directories:
 * the container writes the project, and cm runs what it finds there (the V8 code cache in the
 * cache directory) or trusts it (the cm.toml approvals in the config directory). Checked on the
 * directory that is mounted, whichever directory the command ran from. An own directory that does
 * not exist yet is compared where it will be: below the real path of its nearest existing parent
 * (~/.config may be a symlink into the project, as GNU stow makes them).
 */
function refuseOwnDirs(ctx: Context, projectPath: string): void {
  const own = ownDirAt(ctx, projectPath);
  if (own !== undefined) {
    throw new CmError("bad-project", `refusing ${projectPath} as a project: it contains or is inside cm's own directory ${own}`, {
      hint: "cd into a project directory outside cm's data, cache, state and config directories",
    });
  }
}

/**
 * The first of cm's own directories (data, cache, state, config) that real path `path` contains
 * or is inside, or undefined. A container that can write one of them can reach the host through
 * cm (a code cache cm runs, approvals cm trusts, a review's record cm applies): refused for the
 * project and for writable -v sources.
 */
export function ownDirAt(ctx: Context, path: string): string | undefined {
  for (const own of [ctx.layout.data, ctx.layout.cache, ctx.layout.state, ctx.layout.config]) {
    const ownReal = realpathOfFuture(own);
    if (isWithin(path, ownReal) || isWithin(ownReal, path)) return own;
  }
  return undefined;
}

/** The real path `path` has, or will have once created: its nearest existing parent resolved, the rest as written. */
function realpathOfFuture(path: string): string {
  try {
    return realPath(path);
  } catch (err) {
    if (err instanceof CmError) throw err;
    const parent = dirname(path);
    return parent === path ? path : join(realpathOfFuture(parent), basename(path));
  }
}

/**
 * The project a command is about: --project NAME, or the current directory's name.
 * `cwdIsProject` says whether the current directory becomes the project's directory (create), or
 * whether an explicitly named project brings its own recorded directory (run, delete): then the
 * current directory does not matter and is not checked.
 */
export function resolveProject(ctx: Context, explicitName: string | undefined, opts: { cwdIsProject: boolean }): Project {
  if (explicitName !== undefined && !opts.cwdIsProject) {
    const name = checkProjectName(explicitName);
    return { name, key: projectKey(name), path: "", explicit: true };
  }
  const cwdPath = currentDirectory(ctx);
  if (explicitName === undefined && !opts.cwdIsProject) {
    const enclosing = enclosingProject(ctx, cwdPath);
    if (enclosing) return enclosing;
  }
  const name = explicitName === undefined ? basename(cwdPath) : checkProjectName(explicitName);
  return { name, key: projectKey(name), path: cwdPath, explicit: explicitName !== undefined };
}

/**
 * The project this directory is in, as git finds its repository: the directory itself or the
 * nearest parent that a bundle records as its project directory.
 */
function enclosingProject(ctx: Context, cwdPath: string): Project | undefined {
  for (let dir = cwdPath; dir !== "/"; dir = dirname(dir)) {
    const name = basename(dir);
    let key: string;
    try {
      key = projectKey(name);
    } catch {
      continue;
    }
    const seen = firstBundle(ctx, key);
    if (seen?.projectPath === dir) {
      return { name, key, path: dir, explicit: false, subdir: dir === cwdPath ? undefined : relative(dir, cwdPath), seen };
    }
  }
  return undefined;
}

/**
 * Checks that the bundle belongs to this directory. With an explicit --project, the bundle's own
 * recorded directory is used (you named the project); otherwise the directories must match.
 */
export function checkOwnership(ctx: Context, project: Project, bundle: BundleInfo): string {
  if (!bundle.projectPath.startsWith("/")) {
    throw new CmError("bad-bundle", `${bundle.dir}/config.json is damaged: it does not record its project directory`, {
      hint: `remove the bundle with cm delete ${JSON.stringify(bundle.projectKey)} ${bundle.bundle}, or rebuild it with cm create ${bundle.bundle} --force`,
    });
  }
  if (bundle.projectPath === project.path || (project.explicit && bundle.projectPath)) {
    refuseOwnDirs(ctx, realpathOfFuture(bundle.projectPath));
    return bundle.projectPath;
  }
  throw new CmError(
    "project-mismatch",
    `project ${JSON.stringify(project.name)} belongs to ${bundle.projectPath}, not to this directory ${project.path}`,
    { hint: `cd ${bundle.projectPath}, or give this directory its own project name with --project NAME` },
  );
}

/** A missing bundle: the error names the bundles that do exist. */
export function missingBundle(ctx: Context, project: Project, bundle: string): CmError {
  const existing = bundleNames(ctx.layout.data, project.key);
  const hint = existing.length
    ? `existing bundles of ${displayName(project.name)}: ${existing.join(", ")}`
    : `create it first: cm create${bundle === "default" ? "" : ` ${bundle}`}`;
  return new CmError("no-bundle", `no bundle ${JSON.stringify(bundle)} in project ${JSON.stringify(project.name)}`, { hint });
}

/** The bundle's config.json (read once per command: the one enclosingProject read is reused). */
export function requireBundle(ctx: Context, project: Project, bundle: string): BundleInfo {
  const info = project.seen?.bundle === bundle ? project.seen : readBundle(ctx.layout.data, project.key, bundle);
  if (!info) throw missingBundle(ctx, project, bundle);
  return info;
}

/** Any bundle already recorded for this project key, to compare its project directory. */
export function firstBundle(ctx: Context, key: string): BundleInfo | undefined {
  // Only as many config.json files as it takes to find a readable one: this is on cm run's path.
  for (const name of bundleNames(ctx.layout.data, key)) {
    try {
      const info = readBundle(ctx.layout.data, key, name);
      if (info) return info;
    } catch {
      // a damaged bundle: look at the next one
    }
  }
  return undefined;
}
