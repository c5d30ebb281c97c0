/**
 * cm's one writer of tar streams into a root filesystem: rootfs tarballs, mmdebstrap output, engine
 * exports and image layers all come through `extractTar`. The archive is untrusted; these rules
 * (the union of what cm's two former extractors enforced) keep every write inside `target`:
 *   - entry paths are archive paths: an absolute path, a ".." component or a NUL refuses the archive;
 *   - parent directories are resolved inside the root: a symlink on the way (even "-> /etc" or
 *     "-> ../../..") is followed as the container would see it, never out of the root; a missing
 *     parent is made (0755), a non-directory in the way refuses the archive;
 *   - the final component is never followed: whatever is there (a symlink included) is replaced;
 *     files are created with O_EXCL|O_NOFOLLOW, and owner, mode, time and extended attributes are
 *     set through that descriptor;
 *   - hard links must name a non-directory inside the root that exists (same path rules);
 *   - symlink targets with a NUL refuse the archive (targets are otherwise the container's business);
 *   - nothing is extracted below dev/ and device nodes are never made (runc provides /dev): both
 *     are skipped and counted; FIFOs are made;
 *   - entry kinds cm does not know (GNU sparse files, volume labels, …) refuse the archive;
 *   - directories are writable for the owner while extracting; their real mode, owner and time are
 *     applied at the end (deepest first, through a descriptor opened O_NOFOLLOW, as GNU tar does),
 *     so a mode-000 directory does not block its own entries; rootless, directories stay writable
 *     by their owner (the user must be able to delete the bundle);
 *   - as root (and as root of a range user namespace, `maxIds`), owners are kept; rootless with a
 *     single id, everything belongs to the user running cm.
 * With `whiteouts` (image layers), OCI whiteouts are honoured: `.wh.NAME` removes NAME from lower
 * layers, `.wh..wh..opq` empties its directory (recursively) of everything this layer did not
 * bring; whiteouts of "." or ".." refuse the layer. With `diffId`, the sha256 of the uncompressed
 * stream must match. Extended attributes: see xattrs.ts. Compression: see decompress.ts.
 */

import { spawnSync } from "node:child_process";
import { createHash, type Hash } from "node:crypto";
import {
  chmodSync,
  closeSync,
  constants,
  createReadStream,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readdirSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { isWithin } from "../core/path.ts";
import { CmError, isErrno } from "../errors.ts";
import { removeTree, walkInRoot } from "../host/fs.ts";
import { relieve } from "../host/memory.ts";
import { requireTool } from "../host/tools.ts";
import { decompressed } from "./decompress.ts";
import { readTar, type TarEntry } from "./reader.ts";
import { type XattrReport, XattrWriter } from "./xattrs.ts";

export interface ExtractProgress {
  /** archive bytes read (compressed, as they come in) */
  bytes: number;
  entries: number;
}

export interface ExtractOptions {
  /** an ordinary user: no ownership changes, directories kept writable, no file capabilities */
  rootless: boolean;
  /** honour OCI whiteouts (.wh.NAME, .wh..wh..opq): for image layers applied on lower layers */
  whiteouts?: boolean;
  /** "sha256:…" of the uncompressed tar stream (an image config's rootfs.diff_ids), checked at the end */
  diffId?: string | undefined;
  /** called after each entry (callers throttle) */
  onProgress?: (p: ExtractProgress) => void;
  /** what the archive is, for error messages ("tarball /x.tar", "layer 2/3 (sha256:…) of image:…") */
  what?: string;
  /**
   * Owners kept (not rootless) inside a range user namespace: the highest container uid/gid it
   * maps. An entry owned by an id beyond is given to root (0) and counted (`unmapped`).
   */
  maxIds?: { uid: number; gid: number } | undefined;
  /** the archive's owners are host ids (a `dir:` tree read by tar): translate them to container ids */
  hostIds?: ((uid: number, gid: number) => [number, number]) | undefined;
}

export interface ExtractResult {
  entries: number;
  bytes: number;
  /** archive paths that were deliberately not extracted (device nodes, dev/ contents) */
  skipped: string[];
  xattrs: XattrReport;
  /** entries whose owner was beyond the user namespace's ids (see maxIds), given to root */
  unmapped: number;
}

/** Splits an archive path into safe components; "absolute" / "dotdot" (also for a NUL) when unsafe. Pure. */
export function archivePath(path: string): string[] | "absolute" | "dotdot" {
  if (path.includes("\0")) return "dotdot";
  if (path.startsWith("/")) return "absolute";
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return "dotdot";
    parts.push(p);
  }
  return parts;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

interface DirFix {
  path: string;
  mode: number;
  mtime: number;
  uid: number | undefined;
  gid: number | undefined;
}

interface Sink {
  data(chunk: Buffer): void;
  end(): void;
}

/** The writer: one per extraction. Synchronous file system calls, in archive order. */
class Writer {
  readonly root: string;
  readonly opts: ExtractOptions;
  readonly what: string;
  /** archive directory path -> host path, for directories already resolved */
  private dirs = new Map<string, string>();
  private fixes: DirFix[] = [];
  /** what this archive created (for opaque whiteouts), as host paths relative to the root: short strings, as many as entries */
  private created = new Set<string>();
  readonly skipped: string[] = [];
  unmapped = 0;
  readonly xattrs: XattrWriter;
  private readonly asRoot: boolean;
  private readonly umask: number;
  private readonly euid = process.geteuid?.() ?? 0;
  private readonly egid = process.getegid?.() ?? 0;

  constructor(root: string, opts: ExtractOptions) {
    this.root = resolve(root); // no trailing slash: rel() relies on it
    this.opts = opts;
    this.what = opts.what ?? "the archive";
    this.asRoot = !opts.rootless;
    this.xattrs = new XattrWriter(opts.rootless);
    // Reading the umask means setting it: set it back at once.
    const umask = process.umask(0o022);
    process.umask(umask);
    this.umask = umask;
  }

  unsafe(entry: string, why: string): CmError {
    return new CmError("unsafe-archive", `refusing ${this.what}: unsafe entry ${JSON.stringify(entry)}: ${why}`, {
      hint: "the archive tries to write outside the root filesystem or is malformed; use a trusted archive",
    });
  }

  private parts(entry: string, path: string, what = ""): string[] {
    const parts = archivePath(path);
    if (parts === "absolute") throw this.unsafe(entry, `${what}absolute path`);
    if (parts === "dotdot") throw this.unsafe(entry, `${what}it climbs out with ".."`);
    return parts;
  }

  /**
   * The host directory for archive directory `parts`, resolved inside the root (symlinks followed
   * as the container would), created (mode 0755, fixed later by its own entry) when missing.
   * With create=false, undefined when a component is missing or not a directory.
   */
  resolveDir(entry: string, parts: string[], create = true): string | undefined {
    const key = parts.join("/");
    const hit = this.dirs.get(key);
    if (hit !== undefined) return hit;
    const result = walkInRoot(
      this.root,
      parts,
      (host, st) => {
        if (st === undefined) {
          if (!create) return "none";
          mkdirSync(host, 0o755);
          if (this.opts.whiteouts) this.created.add(this.rel(host));
        } else if (!st.isDirectory()) {
          if (!create) return "none";
          throw this.unsafe(entry, `its parent ${JSON.stringify(this.rel(host))} is not a directory`);
        }
        return "descend";
      },
      () => {
        throw this.unsafe(entry, "its parent resolves through too many symbolic links");
      },
    );
    if (result !== undefined) this.dirs.set(key, result);
    return result;
  }

  /** Removes whatever is at host path `p` (not following symlinks); forgets resolved directories. */
  private clear(p: string, st: Stats): void {
    if (st.isDirectory()) {
      removeTree(p);
      this.dirs.clear();
      // Its pending mode/time fixes are void: the path may become a symlink, never chmod through it.
      this.fixes = this.fixes.filter((f) => !isWithin(f.path, p));
    } else {
      unlinkSync(p);
      if (st.isSymbolicLink()) this.dirs.clear();
    }
  }

  /** Host path `p` (always below the root) relative to the root. */
  private rel(p: string): string {
    return p.slice(this.root.length + 1);
  }

  /** What is at `p` (not following a symlink), or undefined; no exception (and its stack trace) when there is nothing. */
  private existing(p: string): Stats | undefined {
    return lstatSync(p, { throwIfNoEntry: false });
  }

  /** Handles one entry; returns a sink for its body, or undefined to skip the body. */
  entry(e: TarEntry): Sink | undefined {
    const parts = this.parts(e.path, e.path);
    if (parts.length === 0) return undefined; // "./" itself: the root's own mode is cm's to choose
    const name = parts[parts.length - 1] as string;
    const parentParts = parts.slice(0, -1);
    if (parts[0] === "dev" && parts.length > 1) {
      this.skipped.push(e.path);
      return undefined;
    }
    let uid = this.asRoot ? e.uid : undefined;
    let gid = this.asRoot ? e.gid : undefined;
    if (uid !== undefined && gid !== undefined) {
      if (this.opts.hostIds) [uid, gid] = this.opts.hostIds(uid, gid);
      const max = this.opts.maxIds;
      if (max && (uid > max.uid || gid > max.gid)) {
        this.unmapped++;
        if (uid > max.uid) uid = 0;
        if (gid > max.gid) gid = 0;
      }
    }

    if (this.opts.whiteouts && name.startsWith(WHITEOUT)) {
      this.whiteout(e.path, parentParts, name);
      return undefined;
    }

    const parent = this.resolveDir(e.path, parentParts) as string;
    const target = join(parent, name);
    if (this.opts.whiteouts) this.created.add(this.rel(target));
    if (e.type === "file") return this.file(e, target, uid, gid);
    const st = this.existing(target);

    switch (e.type) {
      case "directory":
        this.directory(e, target, st, parts, uid, gid);
        return undefined;
      case "symlink":
        this.symlink(e, target, st, uid, gid);
        return undefined;
      case "hardlink":
        this.hardlink(e, target, st);
        return undefined;
      case "char":
      case "block":
        // runc provides /dev; a device node elsewhere in a root filesystem is never needed, and one
        // readable by others would open the host's devices to whoever can reach the bundle.
        this.skipped.push(e.path);
        return undefined;
      case "fifo":
        this.fifo(e, target, st, uid, gid);
        return undefined;
      default:
        throw new CmError("bad-archive", `${this.what} has an entry ${JSON.stringify(e.path)} of a kind cm cannot extract`, {
          hint: "only files, directories, links, FIFOs and device nodes are supported",
        });
    }
  }

  private directory(e: TarEntry, target: string, st: Stats | undefined, parts: string[], uid?: number, gid?: number): void {
    if (st?.isDirectory()) chmodSync(target, (st.mode & 0o7777) | 0o700);
    else {
      if (st) this.clear(target, st);
      mkdirSync(target, 0o700);
    }
    this.dirs.set(parts.join("/"), target);
    this.fixes.push({ path: target, mode: this.opts.rootless ? e.mode | 0o700 : e.mode, mtime: e.mtime, uid, gid });
    const attrs = e.xattrs && this.xattrs.select(e.xattrs);
    if (attrs?.length) this.xattrs.take(openSync(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW), attrs);
  }

  private symlink(e: TarEntry, target: string, st: Stats | undefined, uid?: number, gid?: number): void {
    if (e.linkpath.includes("\0")) throw this.unsafe(e.path, "its link target has a NUL");
    // Resolved directories stay valid: each is a real directory, and replacing one (or a
    // symlink) goes through clear(), which forgets them. A new name changes none of them.
    if (st) this.clear(target, st);
    symlinkSync(e.linkpath, target);
    if (uid !== undefined && gid !== undefined) lchownSync(target, uid, gid);
    lutimesSync(target, e.mtime, e.mtime);
  }

  /** A hard link must name an existing non-directory inside the root (same path rules as entries). */
  private hardlink(e: TarEntry, target: string, st: Stats | undefined): void {
    const linkParts = this.parts(e.path, e.linkpath, `a hard link to ${JSON.stringify(e.linkpath)}, `);
    if (linkParts.length === 0) throw this.unsafe(e.path, "a hard link to the root");
    if (linkParts[0] === "dev" && linkParts.length > 1) {
      this.skipped.push(e.path);
      return;
    }
    const linkParent = this.resolveDir(e.path, linkParts.slice(0, -1), false);
    const source = linkParent === undefined ? undefined : join(linkParent, linkParts[linkParts.length - 1] as string);
    const sst = source === undefined ? undefined : this.existing(source);
    if (source === undefined || sst === undefined)
      throw this.unsafe(e.path, `a hard link to ${JSON.stringify(e.linkpath)}, which is not in the root filesystem`);
    if (sst.isDirectory()) throw this.unsafe(e.path, `a hard link to the directory ${JSON.stringify(e.linkpath)}`);
    if (source === target) return;
    if (st) this.clear(target, st);
    linkSync(source, target);
  }

  private fifo(e: TarEntry, target: string, st: Stats | undefined, uid?: number, gid?: number): void {
    if (st) this.clear(target, st);
    const r = spawnSync(requireTool("mkfifo"), ["-m", (e.mode & 0o777).toString(8), "--", target], {
      encoding: "utf8",
      stdio: ["ignore", "ignore", "pipe"],
    });
    if (r.status !== 0) throw new CmError("extract-failed", `mkfifo ${target} failed: ${(r.stderr ?? "").trim()}`);
    if (uid !== undefined && gid !== undefined) lchownSync(target, uid, gid);
  }

  /**
   * A regular file: created with O_EXCL|O_NOFOLLOW (whatever was there, a symlink included, is
   * removed first), written, then owner, mode, time (and extended attributes, later, through the
   * same descriptor). The common case (nothing there yet) costs open, write, futimes, close: no
   * lstat, and chown/chmod only when they change something.
   */
  private file(e: TarEntry, target: string, uid: number | undefined, gid: number | undefined): Sink {
    const mode = e.mode;
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    let fd: number;
    try {
      fd = openSync(target, flags, mode);
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      this.clear(target, lstatSync(target));
      fd = openSync(target, flags, mode);
    }
    const chown = uid !== undefined && gid !== undefined && (uid !== this.euid || gid !== this.egid);
    // open() applied the umask; chown() clears set-id bits: then the mode is set again.
    const chmod = (mode & this.umask) !== 0 || (chown && (mode & 0o6000) !== 0);
    let open = true;
    return {
      data: (chunk: Buffer) => {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      },
      end: () => {
        if (!open) return;
        open = false;
        let kept = false;
        try {
          if (chown) fchownSync(fd, uid as number, gid as number);
          if (chmod) fchmodSync(fd, mode);
          futimesSync(fd, e.mtime, e.mtime);
          // After chown: chown clears security.capability.
          const attrs = e.xattrs && this.xattrs.select(e.xattrs);
          if (attrs?.length) {
            this.xattrs.take(fd, attrs);
            kept = true;
          }
        } finally {
          if (!kept) closeSync(fd);
        }
      },
    };
  }

  private whiteout(path: string, parentParts: string[], name: string): void {
    const gone = name.slice(WHITEOUT.length);
    if (name !== OPAQUE && (gone === "" || gone === "." || gone === "..")) {
      throw this.unsafe(path, "a whiteout of the directory itself or its parent");
    }
    const parent = this.resolveDir(path, parentParts, false);
    if (parent === undefined) return; // nothing below to hide
    if (name === OPAQUE) {
      this.opaque(parent);
      return;
    }
    const victim = join(parent, gone);
    const st = this.existing(victim);
    if (st) this.clear(victim, st);
  }

  /** `.wh..wh..opq`: remove from `dir` everything this archive did not create. */
  private opaque(dir: string): void {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (!this.created.has(this.rel(p))) this.clear(p, st);
      else if (st.isDirectory()) this.opaque(p);
    }
  }

  /** Extended attributes, then directory modes, owners and times, deepest first (writing into a directory changes its mtime). */
  finish(): void {
    this.xattrs.flush();
    for (let i = this.fixes.length - 1; i >= 0; i--) {
      const f = this.fixes[i] as DirFix;
      try {
        // Through a descriptor opened without following a symlink: only the directory itself.
        const fd = openSync(f.path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        try {
          if (f.uid !== undefined && f.gid !== undefined) fchownSync(fd, f.uid, f.gid);
          fchmodSync(fd, f.mode);
          futimesSync(fd, f.mtime, f.mtime);
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        // replaced by a later entry: nothing to fix
        if (!isErrno(err, "ENOENT") && !isErrno(err, "ENOTDIR") && !isErrno(err, "ELOOP")) throw err;
      }
    }
  }
}

/** Each entry leaves small objects behind (header, path strings, stat results): counted as 64 KiB of memory pressure. */
const ENTRY_PRESSURE = 64 * 1024;

async function* hashing(source: AsyncIterable<Buffer>, hash: Hash | undefined): AsyncGenerator<Buffer> {
  for await (const c of source) {
    hash?.update(c);
    relieve(c.length);
    yield c;
  }
}

/**
 * Extracts the tar stream `input` (gzip, zstd, xz or uncompressed) into the existing directory
 * `target`. Rejects with a one-line CmError if the archive is unsafe, damaged or not a tar archive
 * (or does not match `diffId`); the caller removes `target` then.
 */
export async function extractTar(input: Readable, target: string, opts: ExtractOptions): Promise<ExtractResult> {
  const writer = new Writer(target, opts);
  const progress: ExtractProgress = { bytes: 0, entries: 0 };
  const hash = opts.diffId ? createHash("sha256") : undefined;
  const stream = hashing(
    decompressed(input, writer.what, (raw) => {
      progress.bytes += raw.length;
    }),
    hash,
  );
  try {
    for await (const e of readTar(stream)) {
      progress.entries++;
      relieve(ENTRY_PRESSURE);
      const sink = writer.entry(e);
      if (sink) {
        try {
          for await (const chunk of e.body) sink.data(chunk);
        } finally {
          sink.end();
        }
      }
      opts.onProgress?.(progress);
    }
    if (progress.entries === 0) {
      throw new CmError("bad-archive", `${writer.what} is not a tar archive (no entries)`, {
        hint: "give a tar archive (.tar, .tar.gz, .tar.xz, .tar.zst)",
      });
    }
    writer.finish();
  } catch (err) {
    writer.xattrs.abandon();
    input.destroy();
    if (err instanceof CmError) {
      if (err.code === "bad-tar")
        throw new CmError("bad-archive", `${writer.what} is not a valid tar archive: ${err.message}`, {
          hint: "is it a tar archive (.tar, .tar.gz, .tar.xz, .tar.zst), complete and undamaged?",
        });
      throw err;
    }
    if (isErrno(err, "ENOSPC") || isErrno(err, "EDQUOT") || isErrno(err, "EACCES") || isErrno(err, "EPERM") || isErrno(err, "EROFS"))
      throw err;
    throw new CmError("bad-archive", `could not extract ${writer.what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (hash && `sha256:${hash.digest("hex")}` !== opts.diffId) {
    throw new CmError("digest-mismatch", `${writer.what} does not match its digest in the image config (${opts.diffId})`, {
      hint: "the image is damaged or was tampered with; nothing was created",
    });
  }
  return {
    entries: progress.entries,
    bytes: progress.bytes,
    skipped: writer.skipped,
    xattrs: writer.xattrs.report,
    unmapped: writer.unmapped,
  };
}

/** Extracts a tarball file: see extractTar. */
export function extractTarFile(file: string, target: string, opts: ExtractOptions): Promise<ExtractResult> {
  return extractTar(createReadStream(file, { highWaterMark: 1 << 20 }), target, { what: `tarball ${file}`, ...opts });
}
