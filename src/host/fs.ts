/**
 * Filesystem helpers with the safety rules cm relies on:
 *   - resolveInRoot: resolve a path inside a rootfs the way the container will see it, following
 *     symlinks but never leaving the rootfs (like runc's securejoin);
 *   - writeFileInRoot: write a file inside a rootfs without following a planted symlink out of it;
 *   - removeTree: delete a tree that a container may have left with odd modes, never crossing into
 *     another filesystem (a mount);
 *   - writeFileAtomic: a complete file or none;
 *   - readSmallFile: read a file a container may have planted (a FIFO, a device, a symlink) without
 *     blocking, following it out or reading without end.
 */

import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
  renameSync,
  rmdirSync,
  type Stats,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { CmError, isErrno, withPath } from "../errors.ts";
import { pathString, showBytes, utf8 } from "./decoding.ts";
import { runInUserns, userIdMap } from "./idmap.ts";
import { mountsUnder, readMountPoints } from "./mounts.ts";
import { requireTool } from "./tools.ts";

const MAX_SYMLINKS = 40;

/**
 * The real path of `path` (realpath(3): every symbolic link resolved), refused (CmError
 * "bad-path", exit 125) when it is not valid UTF-8: Node would decode it with U+FFFD, a string
 * that names another path (in a shared /tmp, maybe another user's). Other failures are
 * realpathSync's (ENOENT, ...). Use it, never realpathSync, for a path cm acts on.
 */
export function realPath(path: string): string {
  return pathString(realpathSync.native(path, { encoding: "buffer" }), path);
}

/** The names in directory `dir` (unsorted), or none when it does not exist; other errors are thrown. */
export function readDirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return [];
    throw err;
  }
}

/**
 * What a caller of walkInRoot does at a component that is not a symlink: "descend" (it is, or has
 * just been made, a directory), "stop" (it is missing: the components after it are taken as
 * written, until a `..` climbs back above it and the walk resumes), "none" (the walk ends without
 * a result).
 */
export type WalkStep = "descend" | "stop" | "none";

/**
 * The one walk of a path inside a root as the container will see it (runc's securejoin): `parts`
 * are the components; "." and "" are skipped, ".." never climbs above `root`, every symlink is
 * followed relative to `root` (an absolute target restarts at `root`), at most 40 of them (then
 * `tooManyLinks` throws). `visit(host, st)` is called for every other component, `st` undefined
 * when nothing is there (ENOENT, or ENOTDIR under a non-directory). Returns the host path reached,
 * or undefined when `visit` said "none". Used by resolveInRoot and the tar writer.
 */
export function walkInRoot(
  root: string,
  parts: readonly string[],
  visit: (host: string, st: Stats | undefined) => WalkStep,
  tooManyLinks: () => never,
): string | undefined {
  return walkContainerPath((done) => join(root, ...done), parts, visit, tooManyLinks);
}

/**
 * walkInRoot where the host path of each prefix of components (inside the container: its root
 * is []) is `hostOf(prefix)`, e.g. through the mounts made over the rootfs
 * (rootfs/command-lookup.ts); undefined from `hostOf` ends the walk with undefined.
 */
export function walkContainerPath(
  hostOf: (inside: readonly string[]) => string | undefined,
  parts: readonly string[],
  visit: (host: string, st: Stats | undefined) => WalkStep,
  tooManyLinks: () => never,
): string | undefined {
  let links = 0;
  const todo = [...parts];
  const done: string[] = [];
  // components below a missing one ("stop"): nothing exists there to resolve, until a `..` climbs
  // back out of them and the walk goes on for real (so a link after `missing/..` is still
  // resolved inside the root: applied as written, it led out of the rootfs)
  const missing: string[] = [];
  while (todo.length > 0) {
    const part = todo.shift() as string;
    if (part === "." || part === "") continue;
    if (part === "..") {
      if (missing.length > 0) missing.pop();
      else done.pop();
      continue;
    }
    if (missing.length > 0) {
      missing.push(part);
      continue;
    }
    const host = hostOf([...done, part]);
    if (host === undefined) return undefined;
    const st = lstatOrUndefined(host);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) tooManyLinks();
      const target = readlinkSync(host);
      if (target.startsWith("/")) done.length = 0;
      todo.unshift(...target.split("/"));
      continue;
    }
    const step = visit(host, st);
    if (step === "none") return undefined;
    if (step === "stop") missing.push(part);
    else done.push(part);
  }
  return hostOf([...done, ...missing]);
}

/** lstat without an exception (and its stack trace) when nothing is there. */
function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p, { throwIfNoEntry: false });
  } catch (err) {
    if (isErrno(err, "ENOTDIR")) return undefined;
    throw err;
  }
}

/**
 * The host path that `path` (absolute, as seen inside the container) names in `root`, with every
 * symlink resolved relative to `root`. A missing final component is allowed (the result names
 * where it would be); ".." never climbs above `root`.
 */
export function resolveInRoot(root: string, path: string): string {
  const parts = posix.normalize(`/${path}`).split("/");
  const resolved = walkInRoot(
    root,
    parts,
    (_host, st) => (st === undefined ? "stop" : "descend"),
    () => {
      throw new CmError("symlink-loop", `too many symbolic links resolving ${path} in ${root}`);
    },
  );
  return resolved as string;
}

/**
 * Writes `content` to `path` inside `root` (a path as the container sees it). Parent directories are
 * resolved inside the root and created as needed; the file itself is never a symlink followed.
 */
export function writeFileInRoot(root: string, path: string, content: string, mode = 0o644): void {
  const parent = resolveInRoot(root, posix.dirname(path));
  mkdirSync(parent, { recursive: true });
  const target = join(parent, posix.basename(path));
  try {
    if (lstatSync(target).isSymbolicLink()) unlinkSync(target);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  const fd = openSync(target, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, mode);
  try {
    writeSync(fd, content);
  } finally {
    closeSync(fd);
  }
}

/** Why readSmallFile refused a file: the file is there but is not a small regular file. */
export class NotSmallRegularFile extends Error {
  readonly reason: "a symbolic link" | "not a regular file" | "too large" | "not valid UTF-8";
  constructor(reason: "a symbolic link" | "not a regular file" | "too large" | "not valid UTF-8") {
    super(reason);
    this.reason = reason;
  }
}

/**
 * Reads `path` as UTF-8 when it is a regular file of at most `maxBytes` bytes, for files that
 * code in a container can write (the project directory's cm.toml and env files). The open never
 * blocks (`O_NONBLOCK`: a FIFO would wait for a writer for ever) and, unless `followSymlink` (for a
 * path the user typed), never follows a symlink in the last component (`O_NOFOLLOW`: a link planted
 * in the project would make cm, maybe as root, read any host file); the type and size are checked on the open file, so a swap after a check cannot
 * matter; at most `maxBytes` + 1 bytes are read (`/dev/zero` or a growing file end there).
 * Errors: `NotSmallRegularFile` with the reason; open errors (ENOENT, EACCES, ...) as thrown.
 */
export function readSmallFile(path: string, maxBytes: number, followSymlink = false): string {
  let fd: number;
  try {
    const nofollow = followSymlink ? 0 : constants.O_NOFOLLOW;
    fd = openSync(path, constants.O_RDONLY | nofollow | constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, "ELOOP")) throw new NotSmallRegularFile("a symbolic link");
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new NotSmallRegularFile("not a regular file");
    if (st.size > maxBytes) throw new NotSmallRegularFile("too large");
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) throw new NotSmallRegularFile("too large");
    }
    const text = utf8(buf.subarray(0, n));
    if (text === undefined) throw new NotSmallRegularFile("not valid UTF-8");
    return text;
  } finally {
    closeSync(fd);
  }
}

/** Writes a file completely or not at all (temp file in the same directory, fsync, rename). */
export function writeFileAtomic(path: string, content: string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw withPath(err, path);
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * A layer in the making or being removed by `pid`: `.<name>.making-<pid>` (filled, then renamed to
 * `<name>`) or `.<name>.removing-<pid>` (removeLayer). cm gc removes those of dead processes.
 */
export const LAYER_WORK = /^\.(.+)\.(making|removing)-([1-9][0-9]*)$/;

/** Where layer `dir` is made before it is renamed into place (LAYER_WORK). */
export function layerMaking(dir: string): string {
  return join(dirname(dir), `.${basename(dir)}.making-${process.pid}`);
}

/**
 * Makes the overlay layer `layer` (its upper and work directories, one file system) with `files`
 * beside them, aside (layerMaking) and renamed in whole, so that a reader sees all of it or none
 * (cm gc removes a half-made one). The upper's root is what the container sees at the mount
 * point: it takes `like`'s mode and, as root (`chown`), its owner.
 */
export function makeLayer(
  layer: { dir: string; upper: string; work: string },
  like: Stats,
  chown: boolean,
  files: Record<string, string>,
): void {
  const making = layerMaking(layer.dir);
  mkdirSync(making, { recursive: true, mode: 0o700 }); // its parent (.reviews, .ephemeral) too
  for (const [name, content] of Object.entries(files)) writeFileSync(join(making, name), content, { mode: 0o600 });
  const upper = join(making, basename(layer.upper));
  mkdirSync(upper);
  mkdirSync(join(making, basename(layer.work)));
  chmodSync(upper, like.mode & 0o7777);
  if (chown) chownSync(upper, like.uid, like.gid);
  renameSync(making, layer.dir);
}

/**
 * Removes an overlay layer directory: renamed aside first (LAYER_WORK), so that it is gone at once
 * for every reader and an interrupted removal leaves no half layer (cm gc finishes it), then
 * removeTree, then its parent if that is left empty, so that no empty `.reviews` or `.ephemeral`
 * stays behind. Another cm making a layer there meanwhile keeps the parent (ENOTEMPTY), or makes
 * it again (its mkdir is recursive).
 */
export function removeLayer(dir: string): void {
  const aside = join(dirname(dir), `.${basename(dir)}.removing-${process.pid}`);
  try {
    renameSync(dir, aside);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  removeTree(aside);
  try {
    rmdirSync(dirname(dir));
  } catch {
    // not empty, or gone
  }
}

/**
 * Removes `path` and everything below it. Directories that a container left unreadable
 * (mode 000) are made accessible first. A directory on another device (a mount) is not entered:
 * that is an error, and what was not removed stays in place.
 */
export function removeTree(path: string): void {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    throw err;
  }
  if (!st.isDirectory()) {
    unlinkSync(path);
    return;
  }
  // Bind mounts of the same filesystem share st_dev: the mount table is checked first, so that
  // nothing is removed at all when a mount sits anywhere below.
  const mounted = mountsUnder(realPath(path), readMountPoints());
  if (mounted.length > 0) {
    throw new CmError("mount-in-tree", `refusing to delete ${path}: ${mounted[0]} is a mount point inside it`, {
      hint: `unmount it (umount ${JSON.stringify(mounted[0])}) and run the command again`,
    });
  }
  try {
    removeDir(path, st.dev);
  } catch (err) {
    // too deep for paths, or for the descriptors removeDir keeps open (one every few levels of
    // long names: a container can nest 100,000 levels): GNU rm walks any depth (fts)
    if (isErrno(err, "ENAMETOOLONG") || isErrno(err, "EMFILE") || isErrno(err, "ENFILE")) {
      removeDeep(path);
      return;
    }
    // A rootfs owned by the user's subordinate ids (range mode): only root of a user namespace
    // with the same mapping may change it. rm -rf there, after the mount check above.
    const map = process.getuid?.() !== 0 && (isErrno(err, "EACCES") || isErrno(err, "EPERM")) ? userIdMap().map : undefined;
    if (!map) throw err;
    runInUserns(map, requireTool("rm"), ["-rf", "--one-file-system", "--", path], `removing ${path}`);
  }
}

/**
 * A tree deeper than PATH_MAX (a container can make one): GNU chmod and rm walk it relative to
 * directory descriptors (fts), so neither depth nor path length limits them. chmod first, for the
 * directories a container left unreadable; rm's --one-file-system keeps removeTree's rule of never
 * entering another filesystem (the mount table was checked before). Argv only, no shell.
 * Measured: a 371-level tree of 20-character names is removed in ~40 ms.
 */
function removeDeep(path: string): void {
  spawnSync("chmod", ["-R", "u+rwx", "--", path], { stdio: "ignore" });
  const r = spawnSync("rm", ["-rf", "--one-file-system", "--", path], { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
  if (r.status !== 0) {
    // range mode: what belongs to subordinate ids is removed as root of the user namespace
    const map = process.getuid?.() !== 0 ? userIdMap().map : undefined;
    if (map) {
      runInUserns(map, requireTool("rm"), ["-rf", "--one-file-system", "--", path], `removing ${path}`);
      return;
    }
    throw new CmError("remove-failed", `cannot remove ${path}: ${r.stderr.trim().split("\n").pop() ?? `rm exited ${r.status}`}`, {
      hint: "remove it by hand (rm -rf), then run the command again",
    });
  }
}

/**
 * A path longer than this is not used as it is: the directory is opened and its entries reached
 * through `/proc/self/fd/N/NAME`. A container can make a tree deeper than PATH_MAX (4096 bytes),
 * whose full paths fail with ENAMETOOLONG; this keeps every path cm uses short.
 */
const REBASE_PATH_LENGTH = 1024;

/** A directory being emptied: `path` names it (short: below an open parent's view), `view` is where its entries are reached. */
interface Frame {
  path: FsPath;
  view: FsPath;
  fd: number | undefined;
  names: Buffer[];
  next: number;
  attempt: number;
}

/**
 * A path as the kernel has it: a string while every name in it is valid UTF-8, else its bytes (a
 * container names files with any bytes, and Node would read an invalid name as U+FFFD, another
 * name: the file would stay and its directory could not be removed).
 */
type FsPath = string | Buffer;

function childPath(dir: FsPath, name: Buffer): FsPath {
  const text = typeof dir === "string" ? utf8(name) : undefined;
  if (typeof dir === "string" && text !== undefined) return join(dir, text);
  return Buffer.concat([typeof dir === "string" ? Buffer.from(dir) : dir, Buffer.from("/"), name]);
}

function parentPath(path: FsPath): FsPath {
  if (typeof path === "string") return dirname(path);
  const slash = path.lastIndexOf(0x2f);
  return slash <= 0 ? "/" : path.subarray(0, slash);
}

function shownPath(path: FsPath): string {
  return typeof path === "string" ? path : showBytes(path);
}

/** The directory at `path`, opened for emptying; undefined when it is gone. */
function enter(path: FsPath, attempt: number): Frame | undefined {
  let fd: number | undefined;
  let view: FsPath = path;
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  try {
    if (path.length > REBASE_PATH_LENGTH) {
      try {
        fd = openSync(path, flags);
      } catch (err) {
        if (!isErrno(err, "EACCES")) throw err;
        chmodSync(path, 0o700);
        fd = openSync(path, flags);
      }
      view = `/proc/self/fd/${fd}`;
    }
    let names: Buffer[];
    try {
      names = readdirSync(view, { encoding: "buffer" });
    } catch (err) {
      if (!isErrno(err, "EACCES")) throw err;
      chmodSync(view, 0o700);
      names = readdirSync(view, { encoding: "buffer" });
    }
    return { path, view, fd, names, next: 0, attempt };
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
}

/**
 * Empties and removes `dir` depth first without recursion (a container can nest directories far
 * deeper than the JavaScript stack: 20,000 levels overflowed it), making unreadable directories
 * accessible and never entering another device.
 */
function removeDir(dir: string, dev: number): void {
  const first = enter(dir, 0);
  if (!first) return;
  const stack: Frame[] = [first];
  const closeFrame = (f: Frame) => {
    if (f.fd !== undefined) closeSync(f.fd);
  };
  try {
    while (stack.length > 0) {
      const f = stack[stack.length - 1] as Frame;
      if (f.next < f.names.length) {
        const child = childPath(f.view, f.names[f.next++] as Buffer);
        let st: Stats;
        try {
          st = lstatSync(child);
        } catch (err) {
          // removed meanwhile (a concurrent cleanup of the same tree)
          if (isErrno(err, "ENOENT")) continue;
          throw err;
        }
        if (st.isDirectory()) {
          if (st.dev !== dev) {
            const shown = f.fd === undefined ? shownPath(child) : `${shownPath(f.path)}/…/${basename(shownPath(child))}`;
            throw new CmError("mount-in-tree", `refusing to delete ${shown}: it is a mount point of another filesystem`, {
              hint: `unmount it (umount ${JSON.stringify(shown)}) and run the command again`,
            });
          }
          const c = enter(child, 0);
          if (c) stack.push(c);
          continue;
        }
        try {
          unlinkSync(child);
        } catch (err) {
          if (isErrno(err, "ENOENT")) continue;
          if (!isErrno(err, "EACCES")) throw err;
          chmodSync(f.view, 0o700);
          unlinkSync(child);
        }
        continue;
      }
      stack.pop();
      closeFrame(f);
      try {
        rmdirSync(f.path);
      } catch (err) {
        if (isErrno(err, "ENOENT")) continue;
        // Something still writes into the tree (the tar or cp of a cm that was killed): go again.
        if (isErrno(err, "ENOTEMPTY") && f.attempt < 40) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
          const again = enter(f.path, f.attempt + 1);
          if (again) stack.push(again);
          continue;
        }
        if (!isErrno(err, "EACCES") && !isErrno(err, "EPERM")) throw err;
        chmodSync(parentPath(f.path), 0o700);
        rmdirSync(f.path);
      }
    }
  } finally {
    for (const f of stack) closeFrame(f);
  }
}

/**
 * Removes `path` if it holds no data: only directories, empty regular files, device nodes and
 * symlinks (never followed) — what a runtime makes (MkdirAll of rootfs/dev, /proc; mount targets
 * such as dev/null; dev/fd links) when it starts at a bundle path that cm delete just moved away.
 * A file with content anywhere, or more than 10000 entries, keeps all of it. Returns whether removed.
 */
export function removeHollowTree(path: string): boolean {
  let entries = 0;
  const hollow = (p: FsPath): boolean => {
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch (err) {
      // gone meanwhile: nothing there; anything else (EACCES below a directory without x,
      // ENAMETOOLONG) is not known to be empty, so the tree is kept
      return isErrno(err, "ENOENT");
    }
    if (++entries > 10_000) return false;
    if (st.isFile()) return st.size === 0;
    if (!st.isDirectory()) return true;
    let names: Buffer[];
    try {
      names = readdirSync(p, { encoding: "buffer" });
    } catch {
      return false;
    }
    return names.every((n) => hollow(childPath(p, n)));
  };
  if (!hollow(path)) return false;
  removeTree(path);
  return true;
}
