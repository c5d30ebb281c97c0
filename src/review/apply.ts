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
 *      place (atomic per file). Interrupted here, `cm apply` again finishes it: what is already
 *      in place is recognised in step 1 and skipped.
 * The check of step 1 is not trusted in steps 2-3: another container of the project may swap a
 * parent directory for a symlink to a host directory at any time. Every write goes through a
 * descriptor of its parent, opened component by component from the project with
 * O_DIRECTORY|O_NOFOLLOW (`/proc/self/fd/N/name`, as openat(2)); a parent that is no longer a
 * real directory stops the apply; modes and owners are set on a descriptor (O_NOFOLLOW).
 */
import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  type Stats,
  symlinkSync,
} from "node:fs";
import { join } from "node:path";
import { displayName } from "../core/names.ts";
import { CmError, isErrno } from "../errors.ts";
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

/** Whether the host path already is what the run made. */
function alreadyApplied(c: Change, upper: string, host: string): boolean {
  const h = lstatOr(host);
  if (c.kind === "deleted") return h === undefined;
  if (!h) return false;
  const u = lstatSync(upper);
  if (c.type === "dir") return h.isDirectory() && (h.mode & 0o7777) === (u.mode & 0o7777);
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
    if (alreadyApplied(c, upper, host)) continue;
    const h = lstatOr(host);
    if (h && h.ctimeMs > input.startedMs) out.push(c.path);
    else if (!h && c.kind !== "added") out.push(`${c.path} (gone from the project)`);
    else if (h && c.kind === "added" && c.type !== "dir") out.push(c.path);
  }
  return [...new Set(out)];
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * A descriptor of the directory `rel` ("a/b", "" for `root` itself) below the directory
 * descriptor `rootFd`, each component opened O_NOFOLLOW|O_DIRECTORY through the one before
 * (openat(2) by /proc/self/fd): a symlink anywhere on the way is refused (CmError), never followed.
 */
function openDirBeneath(rootFd: number, rel: string, project: string): number {
  let fd = openSync(`/proc/self/fd/${rootFd}/.`, DIR_FLAGS);
  for (const name of rel.split("/").filter(Boolean)) {
    let next: number;
    try {
      next = openSync(`/proc/self/fd/${fd}/${name}`, DIR_FLAGS);
    } catch (err) {
      closeSync(fd);
      if (isErrno(err, "ELOOP") || isErrno(err, "ENOTDIR") || isErrno(err, "ENOENT")) {
        throw new CmError(
          "review-conflict",
          `${join(project, rel)} is no longer a directory in the project (changed during cm apply); stopped`,
          {
            hint: "look at the project (something else writes it), then cm apply again",
          },
        );
      }
      throw err;
    }
    closeSync(fd);
    fd = next;
  }
  return fd;
}

/** Calls `fn` with the path of `rel`'s last component through its parent's descriptor. */
function atPath<T>(rootFd: number, rel: string, project: string, fn: (at: string) => T): T {
  const slash = rel.lastIndexOf("/");
  const parent = openDirBeneath(rootFd, slash < 0 ? "" : rel.slice(0, slash), project);
  try {
    return fn(`/proc/self/fd/${parent}/${rel.slice(slash + 1)}`);
  } finally {
    closeSync(parent);
  }
}

/** Sets mode (and owner) through a descriptor opened O_NOFOLLOW: a symlink put there is not followed. */
function setModeOwner(at: string, dir: boolean, mode: number, owner: { uid: number; gid: number } | undefined): void {
  const fd = openSync(at, (dir ? DIR_FLAGS : constants.O_RDONLY | constants.O_NOFOLLOW) | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const st = fstatSync(fd);
    if (dir ? !st.isDirectory() : !st.isFile()) throw new CmError("review-conflict", `${at} changed type during cm apply; stopped`);
    if (owner) fchownSync(fd, owner.uid, owner.gid);
    fchmodSync(fd, mode);
  } finally {
    closeSync(fd);
  }
}

/** Applies the changes (see the module comment); throws a CmError naming the conflicts. */
export function applyChanges(input: ApplyInput): ApplyResult {
  if (!input.force) {
    const found = conflicts(input);
    if (found.length) {
      const shown = found.slice(0, 10).map(displayName).join(", ") + (found.length > 10 ? `, and ${found.length - 10} more` : "");
      throw new CmError("review-conflict", `changed in the project since the run started: ${shown}; nothing applied`, {
        hint: "look at them (cm diff), then cm apply --force to take the run's version, or cm discard",
      });
    }
  }
  const result: ApplyResult = { written: 0, deleted: 0, skipped: 0 };
  const todo = input.changes.filter((c) => {
    if (alreadyApplied(c, join(input.upper, c.path), join(input.project, c.path))) {
      result.skipped++;
      return false;
    }
    return true;
  });
  const projectFd = openSync(input.project, DIR_FLAGS);
  const stageName = `.cm-apply-${input.id}`;
  const stagePath = join(input.project, stageName);
  let stageFd: number | undefined;
  try {
    removeTree(stagePath);
    mkdirSync(`/proc/self/fd/${projectFd}/${stageName}`, { mode: 0o700 });
    // the directory just made, not one put in its place: ours, 0700, empty
    stageFd = openSync(`/proc/self/fd/${projectFd}/${stageName}`, DIR_FLAGS);
    const sst = fstatSync(stageFd);
    if (sst.uid !== process.getuid?.() || (sst.mode & 0o777) !== 0o700 || readdirSync(`/proc/self/fd/${stageFd}`).length > 0) {
      throw new CmError("review-conflict", `${stagePath} was replaced during cm apply; stopped`, {
        hint: "look at the project (something else writes it), then cm apply again",
      });
    }
    const stage = `/proc/self/fd/${stageFd}`;
    // 2. stage every file and symlink
    const staged = new Map<string, string>();
    for (const [n, c] of todo.entries()) {
      if (c.kind === "deleted" || c.type === "dir" || c.modeOnly) continue;
      const from = join(input.upper, c.path);
      const to = join(stage, String(n));
      const u = lstatSync(from);
      if (c.type === "symlink") symlinkSync(readlinkSync(from), to);
      else {
        copyFileSync(from, to, constants.COPYFILE_EXCL);
        setModeOwner(to, false, u.mode & 0o7777, undefined);
      }
      if (input.keepOwners) lchownSync(to, u.uid, u.gid);
      staged.set(c.path, to);
    }
    // 3. deletions (and what a new type replaces), deepest first
    for (const c of [...todo].reverse()) {
      const replaced = c.kind === "modified" && c.before !== undefined && c.before !== c.type;
      if (c.kind !== "deleted" && !replaced) continue;
      let gone = false;
      try {
        atPath(projectFd, c.path, input.project, (at) => {
          if (!lstatOr(at)) return;
          rmSync(at, { recursive: true, force: true });
          gone = true;
        });
      } catch (err) {
        // a deleted path whose parent is gone too (deleted before it, deepest first) is done
        if (!(c.kind === "deleted" && err instanceof CmError)) throw err;
      }
      if (gone && c.kind === "deleted") result.deleted++;
    }
    // then directories and files, parents first
    for (const c of todo) {
      if (c.kind === "deleted") continue;
      const u = lstatSync(join(input.upper, c.path));
      const owner = input.keepOwners ? { uid: u.uid, gid: u.gid } : undefined;
      atPath(projectFd, c.path, input.project, (at) => {
        if (c.type === "dir") {
          if (!lstatOr(at)) mkdirSync(at);
          setModeOwner(at, true, u.mode & 0o7777, owner);
        } else if (c.modeOnly) {
          setModeOwner(at, false, u.mode & 0o7777, undefined);
        } else {
          renameSync(staged.get(c.path) as string, at);
        }
      });
      result.written++;
    }
  } finally {
    if (stageFd !== undefined) closeSync(stageFd);
    closeSync(projectFd);
    removeTree(stagePath);
  }
  return result;
}
