/**
 * `cm apply`: a reviewed run's changes (review/changes.ts) written into the project directory.
 *
 *   1. check: a host path that changed since the run started (its ctime is later than the start,
 *      or it is gone while the run changed it, or it appeared where the run added one) is a
 *      conflict, unless it already is what the run made (so an interrupted apply can run again);
 *      every parent on the host must be a real directory (never followed through a symlink).
 *      Conflicts refuse the whole apply, naming them; `force` takes the run's version.
 *   2. stage: every file and symlink the run made is copied into `<project>/.cm-apply-<id>/`
 *      (same file system) with its mode, before anything in the project changes;
 *   3. commit: deletions (deepest first), then directories, and each staged file renamed into
 *      place (atomic per file), then the directories' modes, deepest first. Every step goes through its parent directory opened without
 *      following symlinks (host/beneath.ts): a container running meanwhile that swaps a directory
 *      for a symlink stops the apply instead of redirecting it out of the project. Interrupted here, `cm apply` again finishes it: what is already
 *      in place is recognised in step 1 and skipped.
 */
import {
  accessSync,
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { displayName } from "../core/names.ts";
import { CmError, isErrno } from "../errors.ts";
import { atPath, openDirBeneath, openNoFollow } from "../host/beneath.ts";
import { removeTree } from "../host/fs.ts";
import { type Change, sameContent } from "./changes.ts";

export interface ApplyInput {
  id: string;
  upper: string;
  project: string;
  /** when the run started (ms since the epoch): host changes after it are conflicts */
  startedMs: number;
  changes: Change[];
  force?: boolean | undefined;
  /** root: keep the owner the run gave a file (rootless: everything is the user's anyway) */
  keepOwners?: boolean | undefined;
}

export interface ApplyResult {
  written: number;
  deleted: number;
  /** already as the run made them (an earlier, interrupted apply) */
  skipped: number;
}

function lstatOr(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** A directory's mode while an apply fills it: the run's, with the owner's rwx (the run's is set last). */
function workingMode(mode: number): number {
  return (mode & 0o7777) | 0o700;
}

/**
 * Whether the host path already is what the run made; with `orStarted`, a directory an
 * interrupted apply made and had not given its final mode yet counts too (not a conflict, but
 * still to finish).
 */
function alreadyApplied(c: Change, upper: string, host: string, orStarted = false): boolean {
  const h = lstatOr(host);
  if (c.kind === "deleted") return h === undefined;
  if (!h) return false;
  const u = lstatSync(upper);
  // a directory an interrupted apply made still has its owner's rwx (its mode is set last)
  if (c.type === "dir")
    return h.isDirectory() && ((h.mode & 0o7777) === (u.mode & 0o7777) || (orStarted && (h.mode & 0o7777) === workingMode(u.mode)));
  if (c.type === "symlink") return h.isSymbolicLink() && readlinkSync(host) === readlinkSync(upper);
  return h.isFile() && (h.mode & 0o7777) === (u.mode & 0o7777) && sameContent(upper, host);
}

/** The paths that changed on the host since the run started (and are not already the run's). */
export function conflicts(input: ApplyInput): string[] {
  const out: string[] = [];
  const replacedDirs = new Set(input.changes.filter((c) => c.type === "dir").map((c) => c.path));
  for (const c of input.changes) {
    const host = join(input.project, c.path);
    const upper = join(input.upper, c.path);
    // parents: real directories on the host, or made by this apply
    const parts = c.path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      const st = lstatOr(join(input.project, parent));
      if (st && !st.isDirectory() && !replacedDirs.has(parent)) {
        out.push(`${parent} (not a directory on the host)`);
      }
    }
    if (alreadyApplied(c, upper, host, true)) continue;
    const h = lstatOr(host);
    if (h && h.ctimeMs > input.startedMs) out.push(c.path);
    else if (!h && c.kind !== "added") out.push(`${c.path} (gone from the project)`);
    else if (h && c.kind === "added" && c.type !== "dir") out.push(c.path);
  }
  return [...new Set(out)];
}

/**
 * The directory `project/rel` opened without following a symlink; a project changed under the
 * apply (a parent swapped for a symlink or a file, or gone) is a CmError naming `shown`.
 */
function beneath(project: string, rel: string, shown: string): number {
  try {
    return openDirBeneath(project, rel);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ELOOP" || code === "ENOTDIR" || code === "ENOENT")
      throw new CmError(
        "review-conflict",
        `${displayName(shown || project)} changed in the project during cm apply (${code === "ENOENT" ? "gone" : "no longer a directory"}); the apply stopped`,
        {
          hint: "stop what changes the project (cm ps), look at it, then cm apply again",
        },
      );
    throw err;
  }
}

/** Runs `fn` with the open parent directory of `path` (relative to project) and its last component. */
function withParent(project: string, path: string, fn: (parentFd: number, name: string) => void): void {
  const parent = dirname(path) === "." ? "" : dirname(path);
  const fd = beneath(project, parent, parent);
  try {
    fn(fd, basename(path));
  } finally {
    closeSync(fd);
  }
}

/** Without --force, a path changed in the project since the run started stops the apply before any write. */
function refuseConflicts(input: ApplyInput): void {
  const found = conflicts(input);
  if (!found.length) return;
  const shown = found.slice(0, 10).map(displayName).join(", ") + (found.length > 10 ? `, and ${found.length - 10} more` : "");
  throw new CmError("review-conflict", `changed in the project since the run started: ${shown}; nothing applied`, {
    hint: "look at them (cm diff), then cm apply --force to take the run's version, or cm discard",
  });
}

/** Copies every changed file and symlink into the open stage directory; returns path -> its name there. */
function stageFiles(input: ApplyInput, todo: ApplyInput["changes"], stageFd: number): Map<string, string> {
  const staged = new Map<string, string>();
  for (const [n, c] of todo.entries()) {
    if (c.kind === "deleted" || c.type === "dir" || c.modeOnly) continue;
    const from = join(input.upper, c.path);
    const to = atPath(stageFd, String(n));
    const u = lstatSync(from);
    if (c.type === "symlink") {
      symlinkSync(readlinkSync(from), to);
      if (input.keepOwners) lchownSync(to, u.uid, u.gid);
    } else {
      // created here (O_EXCL: never an existing file or a planted link), then filled through the magic link to it
      const fd = openSync(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        copyFileSync(from, `/proc/self/fd/${fd}`);
        // the owner first: chown clears setuid and setgid (a setuid file lost its bit as root)
        if (input.keepOwners) fchownSync(fd, u.uid, u.gid);
        fchmodSync(fd, u.mode & 0o7777);
      } finally {
        closeSync(fd);
      }
    }
    staged.set(c.path, String(n));
  }
  return staged;
}

/** The directory in the project where an apply of review `id` stages its files. */
function stageNameOf(id: string): string {
  return `.cm-apply-${id}`;
}

/** Removes what an interrupted apply of review `id` staged in `project` (cm discard). */
export function removeStage(project: string, id: string): void {
  let projectFd: number;
  try {
    projectFd = openDirBeneath(project, "");
  } catch {
    return; // the project is gone or not a directory: nothing of ours there
  }
  try {
    removeTree(atPath(projectFd, stageNameOf(id)));
  } finally {
    closeSync(projectFd);
  }
}

/**
 * Refuses a run that made the stage directory itself: its files would be renamed into the stage
 * and replace what was staged there, so a reviewed file would get content the diff did not show
 * (red team: the container reads its review's ID in /proc/self/mountinfo).
 */
function refuseStageName(input: ApplyInput): void {
  const stage = stageNameOf(input.id);
  const clash = input.changes.find((c) => c.path === stage || c.path.startsWith(`${stage}/`));
  if (clash) {
    throw new CmError("review-unsupported", `the run made /project/${stage}, the name cm apply stages its work under; nothing applied`, {
      hint: "cm discard drops the run's changes; cm diff shows what it made there",
    });
  }
}

/** The nearest existing directory at or above `path` (the project's root at the latest). */
function nearestDir(path: string, project: string): string {
  let p = path;
  while (p !== project && !lstatOr(p)?.isDirectory()) p = dirname(p);
  return p;
}

/**
 * Before anything is written: every host directory a change goes in must be writable, and every
 * file to copy from the run's layer readable. Otherwise the apply would stop halfway (rootless: a
 * read-only project directory, a file the run left mode 000).
 */
function refuseUnwritable(input: ApplyInput, todo: ApplyInput["changes"]): void {
  if (!lstatOr(input.project)?.isDirectory()) {
    throw new CmError(
      "review-conflict",
      `the project directory ${displayName(input.project)} is gone (moved or deleted); nothing applied`,
      {
        hint: "move it back to where the run saw it, then cm apply again; or cm discard",
      },
    );
  }
  for (const c of todo) {
    const parent = nearestDir(dirname(join(input.project, c.path)), input.project);
    try {
      accessSync(parent, constants.W_OK | constants.X_OK);
    } catch {
      throw new CmError(
        "review-conflict",
        `cannot write in ${displayName(parent)} (permission denied), where the run changed ${displayName(c.path)}; nothing applied`,
        {
          hint: "give yourself write access to it (chmod u+w), then cm apply --force (your chmod is a change since the run)",
        },
      );
    }
    if (c.kind !== "deleted" && c.type === "file" && !c.modeOnly) {
      try {
        accessSync(join(input.upper, c.path), constants.R_OK);
      } catch {
        throw new CmError(
          "review-unsupported",
          `the run left /project/${displayName(c.path)} unreadable (its mode denies access): cm cannot apply the run`,
          {
            hint: "cm discard drops the run's changes; or chmod it in a run and review that one",
          },
        );
      }
    }
  }
}

/** Applies the changes (see the module comment); throws a CmError naming the conflicts. */
export function applyChanges(input: ApplyInput): ApplyResult {
  refuseStageName(input);
  if (!input.force) refuseConflicts(input);
  const result: ApplyResult = { written: 0, deleted: 0, skipped: 0 };
  const todo = input.changes.filter((c) => {
    if (alreadyApplied(c, join(input.upper, c.path), join(input.project, c.path))) {
      result.skipped++;
      return false;
    }
    return true;
  });
  refuseUnwritable(input, todo);
  // A container still running on this project can swap a directory for a symlink at any moment:
  // every write goes through a parent opened without following symlinks (host/beneath.ts).
  const stageName = stageNameOf(input.id);
  const projectFd = beneath(input.project, "", "");
  let stageFd: number | undefined;
  try {
    removeTree(atPath(projectFd, stageName));
    mkdirSync(atPath(projectFd, stageName), { mode: 0o700 });
    stageFd = beneath(input.project, stageName, stageName);
    // 2. stage every file and symlink
    const staged = stageFiles(input, todo, stageFd);
    // 3. deletions (and what a new type replaces), deepest first
    for (const c of [...todo].reverse()) {
      const host = join(input.project, c.path);
      const h = lstatOr(host);
      if (!h) continue;
      const replaced = c.kind === "modified" && c.before !== undefined && c.before !== c.type;
      if (c.kind === "deleted" || replaced) {
        withParent(input.project, c.path, (fd, name) => rmSync(atPath(fd, name), { recursive: true, force: true }));
        if (c.kind === "deleted") result.deleted++;
      }
    }
    // then directories and files, parents first
    for (const c of todo) {
      if (c.kind === "deleted") continue;
      withParent(input.project, c.path, (parentFd, name) => {
        if (c.type === "dir") {
          try {
            mkdirSync(atPath(parentFd, name), { mode: 0o700 });
          } catch (err) {
            if (!isErrno(err, "EEXIST")) throw err;
          }
          // its working mode at once, so that an apply interrupted from here on recognises it
          const dirFd = openNoFollow(parentFd, name);
          try {
            fchmodSync(dirFd, workingMode(lstatSync(join(input.upper, c.path)).mode));
          } finally {
            closeSync(dirFd);
          }
        } else if (!c.modeOnly) {
          renameSync(atPath(stageFd as number, staged.get(c.path) as string), atPath(parentFd, name));
        }
      });
      result.written++;
    }
    // last, the modes (and owners) of directories and mode-only changes, deepest first: a
    // directory the run made read-only (chmod 555) is closed only once its files are in
    for (const c of [...todo].reverse()) {
      if (c.kind === "deleted" || (c.type !== "dir" && !c.modeOnly)) continue;
      const u = lstatSync(join(input.upper, c.path));
      withParent(input.project, c.path, (parentFd, name) => {
        const fd = openNoFollow(parentFd, name);
        try {
          // the owner first: chown clears setuid and setgid
          if (c.type === "dir" && input.keepOwners) fchownSync(fd, u.uid, u.gid);
          fchmodSync(fd, u.mode & 0o7777);
        } finally {
          closeSync(fd);
        }
      });
    }
  } finally {
    if (stageFd !== undefined) closeSync(stageFd);
    try {
      removeTree(atPath(projectFd, stageName));
    } finally {
      closeSync(projectFd);
    }
  }
  return result;
}
