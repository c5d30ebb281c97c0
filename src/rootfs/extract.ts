/**
 * Safe streaming extraction of untrusted tarballs (rootfs tarballs, engine exports, OCI layers).
 *
 * The tar format is parsed by the `tar` package's Parser (ustar, pax, GNU long names); every write
 * is done here, with these rules, so that nothing is ever written outside `target`:
 *   - entry names are archive paths: a leading "/" is stripped, a ".." component refuses the archive;
 *   - parent directories are resolved inside the root: a symlink on the way (even "-> /etc" or
 *     "-> ../../..") is followed as the container would see it, never out of the root (securejoin);
 *   - the final component is never followed: an existing file or symlink there is replaced, files
 *     are created with O_EXCL|O_NOFOLLOW;
 *   - hard links must name a path inside the archive's root (".." refuses the archive) and are
 *     resolved the same way; a link to a directory is refused;
 *   - nothing is extracted below dev/ (runc provides /dev), and device nodes are skipped rootless;
 *   - directories are made writable for the owner while extracting; their real mode and time are
 *     applied at the end (as GNU tar does), so a mode-000 directory does not block its own entries.
 * With `whiteouts`, OCI/AUFS whiteouts are honoured: `.wh.NAME` removes NAME from lower layers, and
 * `.wh..wh..opq` empties its directory of everything this layer did not bring.
 * Compression (gzip, zstd, xz) is detected from the first bytes.
 */
import { spawn, spawnSync } from "node:child_process";
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
  readlinkSync,
  type Stats,
  symlinkSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { Duplex, type Readable } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import type { ReadEntry } from "tar";
import { CmError, isErrno } from "../errors.ts";
import { removeTree } from "../host/fs.ts";
import { requireTool } from "../host/tools.ts";

export interface ExtractProgress {
  /** archive bytes read (compressed, as they come in) */
  bytes: number;
  entries: number;
}

export interface ExtractOptions {
  /** an ordinary user: no ownership changes, no device nodes */
  rootless: boolean;
  /** honour OCI whiteouts (.wh.NAME, .wh..wh..opq): for image layers applied on lower layers */
  whiteouts?: boolean;
  /** called after each entry (callers throttle) */
  onProgress?: (p: ExtractProgress) => void;
  /** what the archive is, for error messages ("tarball /x.tar", "podman export of debian") */
  what?: string;
}

export interface ExtractResult {
  entries: number;
  bytes: number;
  /** archive paths that were deliberately not extracted (devices rootless, dev/ contents) */
  skipped: string[];
}

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
const XZ = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];

function startsWith(buf: Buffer, magic: number[]): boolean {
  return buf.length >= magic.length && magic.every((b, i) => buf[i] === b);
}

export type Compression = "gzip" | "zstd" | "xz" | "none";

/** Pure: the compression of a stream from its first bytes. */
export function detectCompression(head: Buffer): Compression {
  if (startsWith(head, GZIP)) return "gzip";
  if (startsWith(head, ZSTD)) return "zstd";
  if (startsWith(head, XZ)) return "xz";
  return "none";
}

function xzDecompressor(): Duplex {
  const xz = spawn(requireTool("xz"), ["-dc"], { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  xz.stderr.setEncoding("utf8").on("data", (d: string) => {
    err = (err + d).slice(-2000);
  });
  // Node accepts { writable, readable } here (documented); its type declarations do not say so.
  const duplex = Duplex.from({ writable: xz.stdin, readable: xz.stdout } as unknown as Parameters<typeof Duplex.from>[0]);
  xz.on("close", (code) => {
    if (code !== 0) duplex.destroy(new Error(`xz -dc failed: ${err.trim().split("\n").pop() ?? `exit ${code}`}`));
  });
  xz.stdin.on("error", () => {
    // xz exited early: its exit status tells why
  });
  return duplex;
}

/** Splits an archive path into safe components; undefined for a path with "..". */
export function archivePath(path: string): string[] | undefined {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "" || p === ".") continue;
    if (p === "..") return undefined;
    parts.push(p);
  }
  return parts;
}

const MAX_SYMLINKS = 40;

interface DirFix {
  path: string;
  mode: number;
  mtime: Date | undefined;
  uid: number | undefined;
  gid: number | undefined;
}

/** The writer: one per extraction. Synchronous file system calls, in archive order. */
class Writer {
  readonly root: string;
  readonly opts: ExtractOptions;
  /** archive directory path -> host path, for directories already resolved */
  private dirs = new Map<string, string>();
  private fixes: DirFix[] = [];
  /** host paths this archive created (for opaque whiteouts) */
  private created = new Set<string>();
  readonly skipped: string[] = [];
  private readonly asRoot: boolean;
  private readonly umask: number;
  private readonly euid = process.geteuid?.() ?? 0;
  private readonly egid = process.getegid?.() ?? 0;

  constructor(root: string, opts: ExtractOptions) {
    this.root = root;
    this.opts = opts;
    this.asRoot = !opts.rootless;
    // Reading the umask means setting it: set it back at once.
    const umask = process.umask(0o022);
    process.umask(umask);
    this.umask = umask;
  }

  private unsafe(entry: string, why: string): CmError {
    return new CmError("unsafe-archive", `refusing ${this.opts.what ?? "the archive"}: entry ${JSON.stringify(entry)} ${why}`, {
      hint: "the archive tries to write outside the root filesystem; use a trusted archive",
    });
  }

  /**
   * The host directory for archive directory `parts`, resolved inside the root (symlinks followed
   * as the container would), created (mode 0755, fixed later by its own entry) when missing.
   * With create=false, undefined when a component is missing.
   */
  resolveDir(parts: string[], create = true): string | undefined {
    const key = parts.join("/");
    const hit = this.dirs.get(key);
    if (hit !== undefined) return hit;
    let links = 0;
    const todo = [...parts];
    const done: string[] = [];
    while (todo.length > 0) {
      const part = todo.shift() as string;
      if (part === "." || part === "") continue;
      if (part === "..") {
        done.pop();
        continue;
      }
      const host = join(this.root, ...done, part);
      let st: Stats | undefined;
      try {
        st = lstatSync(host);
      } catch (err) {
        if (!isErrno(err, "ENOENT")) throw err;
      }
      if (st === undefined) {
        if (!create) return undefined;
        mkdirSync(host, 0o755);
        if (this.opts.whiteouts) this.created.add(host);
      } else if (st.isSymbolicLink()) {
        if (++links > MAX_SYMLINKS) throw this.unsafe(key, "resolves through too many symbolic links");
        const target = readlinkSync(host);
        if (target.startsWith("/")) done.length = 0;
        todo.unshift(...target.split("/"));
        continue;
      } else if (!st.isDirectory()) {
        if (!create) return undefined;
        // A file where the archive needs a directory: the later entry wins, as with GNU tar.
        unlinkSync(host);
        mkdirSync(host, 0o755);
      }
      done.push(part);
    }
    const result = join(this.root, ...done);
    this.dirs.set(key, result);
    return result;
  }

  /** Removes whatever is at host path `p` (not following symlinks); forgets resolved directories. */
  private clear(p: string, st: Stats): void {
    if (st.isDirectory()) {
      removeTree(p);
      this.dirs.clear();
      // Its pending mode/time fixes are void: the path may become a symlink, never chmod through it.
      this.fixes = this.fixes.filter((f) => f.path !== p && !f.path.startsWith(`${p}/`));
    } else {
      unlinkSync(p);
      if (st.isSymbolicLink()) this.dirs.clear();
    }
  }

  private existing(p: string): Stats | undefined {
    try {
      return lstatSync(p);
    } catch (err) {
      if (isErrno(err, "ENOENT")) return undefined;
      throw err;
    }
  }

  /** Handles one entry; returns a function to call with each body chunk, or undefined to discard the body. */
  entry(e: ReadEntry): { data(chunk: Buffer): void; end(): void } | undefined {
    const parts = archivePath(e.path);
    if (parts === undefined) throw this.unsafe(e.path, 'has a ".." component');
    if (parts.length === 0) {
      // "./" itself: the root's own mode is cm's to choose.
      return undefined;
    }
    const name = parts[parts.length - 1] as string;
    const parentParts = parts.slice(0, -1);
    if (parts[0] === "dev" && parts.length > 1) {
      this.skipped.push(e.path);
      return undefined;
    }
    const mode = (e.mode ?? 0o644) & 0o7777;
    const uid = this.asRoot ? e.uid : undefined;
    const gid = this.asRoot ? e.gid : undefined;

    if (this.opts.whiteouts && name.startsWith(".wh.")) {
      const parent = this.resolveDir(parentParts, false);
      if (parent === undefined) return undefined;
      if (name === ".wh..wh..opq") {
        this.opaque(parent);
      } else {
        // ".wh.." and ".wh..." would name the directory itself or its parent: never a thing to remove.
        const gone = name.slice(4);
        if (gone === "" || gone === "." || gone === "..") {
          throw this.unsafe(e.path, "is a whiteout of the directory itself or its parent");
        }
        const victim = join(parent, gone);
        const st = this.existing(victim);
        if (st) this.clear(victim, st);
      }
      return undefined;
    }

    const parent = this.resolveDir(parentParts) as string;
    const target = join(parent, name);
    if (this.opts.whiteouts) this.created.add(target);
    if (e.type === "File" || e.type === "OldFile" || e.type === "ContiguousFile") return this.file(e, target, mode, uid, gid);
    const st = this.existing(target);

    switch (e.type) {
      case "Directory": {
        if (st?.isDirectory()) chmodSync(target, (st.mode & 0o7777) | 0o700);
        else {
          if (st) this.clear(target, st);
          mkdirSync(target, 0o700);
        }
        this.dirs.set(parts.join("/"), target);
        this.fixes.push({ path: target, mode, mtime: e.mtime, uid, gid });
        return undefined;
      }
      case "SymbolicLink": {
        if (st) this.clear(target, st);
        symlinkSync(e.linkpath ?? "", target);
        this.dirs.clear();
        if (uid !== undefined && gid !== undefined) lchownSync(target, uid, gid);
        if (e.mtime) lutimesSync(target, e.mtime, e.mtime);
        return undefined;
      }
      case "Link": {
        const linkParts = archivePath(e.linkpath ?? "");
        if (linkParts === undefined || linkParts.length === 0) throw this.unsafe(e.path, `is a hard link to ${JSON.stringify(e.linkpath)}`);
        if (linkParts[0] === "dev" && linkParts.length > 1) {
          this.skipped.push(e.path);
          return undefined;
        }
        const linkParent = this.resolveDir(linkParts.slice(0, -1), false);
        const source = linkParent === undefined ? undefined : join(linkParent, linkParts[linkParts.length - 1] as string);
        const sst = source === undefined ? undefined : this.existing(source);
        if (source === undefined || sst === undefined)
          throw this.unsafe(e.path, `is a hard link to ${JSON.stringify(e.linkpath)}, which the archive did not contain`);
        if (sst.isDirectory()) throw this.unsafe(e.path, `is a hard link to the directory ${JSON.stringify(e.linkpath)}`);
        if (source === target) return undefined;
        if (st) this.clear(target, st);
        linkSync(source, target);
        return undefined;
      }
      case "CharacterDevice":
      case "BlockDevice": {
        if (!this.asRoot) {
          this.skipped.push(e.path);
          return undefined;
        }
        if (st) this.clear(target, st);
        const kind = e.type === "CharacterDevice" ? "c" : "b";
        const h = e.header;
        this.tool("mknod", ["-m", mode.toString(8), "--", target, kind, String(h.devmaj), String(h.devmin)]);
        if (uid !== undefined && gid !== undefined) lchownSync(target, uid, gid);
        return undefined;
      }
      case "FIFO": {
        if (st) this.clear(target, st);
        this.tool("mkfifo", ["-m", mode.toString(8), "--", target]);
        if (uid !== undefined && gid !== undefined) lchownSync(target, uid, gid);
        return undefined;
      }
      default:
        this.skipped.push(e.path);
        return undefined;
    }
  }

  /**
   * A regular file: created with O_EXCL|O_NOFOLLOW (whatever was there, a symlink included, is
   * removed first), written, then owner, mode and time. The common case (nothing there yet) costs
   * open, write, futimes, close: no lstat, and chown/chmod only when they change something.
   */
  private file(e: ReadEntry, target: string, mode: number, uid: number | undefined, gid: number | undefined) {
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
    return {
      data: (chunk: Buffer) => {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      },
      end: () => {
        try {
          if (chown) fchownSync(fd, uid as number, gid as number);
          if (chmod) fchmodSync(fd, mode);
          if (e.mtime) futimesSync(fd, e.mtime, e.mtime);
        } finally {
          closeSync(fd);
        }
      },
    };
  }

  private tool(name: string, args: string[]): void {
    const r = spawnSync(requireTool(name), args, { encoding: "utf8", stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new CmError("extract-failed", `${name} ${args.at(-1)} failed: ${(r.stderr ?? "").trim()}`);
  }

  /** `.wh..wh..opq`: remove from `dir` everything this archive did not create. */
  private opaque(dir: string): void {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      if (!this.created.has(p)) this.clear(p, st);
      else if (st.isDirectory()) this.opaque(p);
    }
  }

  /** Directory modes, owners and times, deepest first (writing into a directory changes its mtime). */
  finish(): void {
    for (let i = this.fixes.length - 1; i >= 0; i--) {
      const f = this.fixes[i] as DirFix;
      try {
        // Through a descriptor opened without following a symlink: only the directory itself.
        const fd = openSync(f.path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        try {
          if (f.uid !== undefined && f.gid !== undefined) fchownSync(fd, f.uid, f.gid);
          fchmodSync(fd, f.mode);
          if (f.mtime) futimesSync(fd, f.mtime, f.mtime);
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

/**
 * Extracts the tar stream `input` (possibly compressed) into the existing directory `target`.
 * Rejects with a CmError naming the entry if the archive is unsafe or not a tar archive.
 */
export async function extractTar(input: Readable, target: string, opts: ExtractOptions): Promise<ExtractResult> {
  const { Parser } = await import("tar");
  const writer = new Writer(target, opts);
  const progress: ExtractProgress = { bytes: 0, entries: 0 };
  let failure: unknown;
  const parser = new Parser({ strict: true });
  parser.on("entry", (e: ReadEntry) => {
    if (failure !== undefined) {
      e.resume();
      return;
    }
    let sink: ReturnType<Writer["entry"]>;
    try {
      sink = writer.entry(e);
    } catch (err) {
      failure = err;
      e.resume();
      return;
    }
    progress.entries++;
    if (!sink) {
      e.resume();
      opts.onProgress?.(progress);
      return;
    }
    const s = sink;
    let closed = false;
    e.on("data", (chunk: Buffer) => {
      if (closed) return;
      try {
        s.data(chunk);
      } catch (err) {
        failure ??= err;
        closed = true;
        try {
          s.end();
        } catch {
          // already failing
        }
      }
    });
    e.on("end", () => {
      if (closed) return;
      closed = true;
      try {
        s.end();
      } catch (err) {
        failure ??= err;
      }
      opts.onProgress?.(progress);
    });
  });
  const parserDone = new Promise<void>((resolve, reject) => {
    parser.on("error", reject);
    parser.on("end", resolve);
  });
  parserDone.catch(() => {
    // reported below
  });

  const what = opts.what ?? "the archive";
  try {
    let stream: AsyncIterable<Buffer> = input;
    const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first = await it.next();
    if (first.done) throw new CmError("bad-archive", `${what} is empty`, { hint: "give a tar archive of a root filesystem" });
    const head = first.value as Buffer;
    const rest = async function* () {
      yield head;
      for (;;) {
        const n = await it.next();
        if (n.done) return;
        yield n.value as Buffer;
      }
    };
    const raw = (async function* () {
      for await (const chunk of rest()) {
        progress.bytes += chunk.length;
        yield chunk;
      }
    })();
    const compression = detectCompression(head);
    if (compression !== "none") {
      const d = compression === "gzip" ? createGunzip() : compression === "zstd" ? createZstdDecompress() : xzDecompressor();
      const { Readable: R } = await import("node:stream");
      R.from(raw).pipe(d);
      stream = d;
    } else {
      stream = raw;
    }
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parser.write(chunk);
      if (failure !== undefined) break;
    }
    if (failure === undefined) {
      parser.end();
      await parserDone;
    }
  } catch (err) {
    failure ??= err;
  }
  if (failure !== undefined) {
    input.destroy();
    if (failure instanceof CmError) throw failure;
    const e = failure as NodeJS.ErrnoException;
    if (e.code === "ENOSPC" || e.code === "EDQUOT" || e.code === "EACCES" || e.code === "EPERM" || e.code === "EROFS") throw failure;
    const msg = (e?.message ?? String(failure)).replace(/^TAR_[A-Z_]+: /, "");
    throw new CmError("bad-archive", `could not extract ${what}: ${msg}`, {
      hint: "is it a tar archive (.tar, .tar.gz, .tar.xz, .tar.zst)?",
    });
  }
  if (progress.entries === 0)
    throw new CmError("bad-archive", `${what} is not a tar archive (no entries)`, { hint: "give a tar archive of a root filesystem" });
  writer.finish();
  return { entries: progress.entries, bytes: progress.bytes, skipped: writer.skipped };
}

/** Extracts a tarball file: see extractTar. */
export function extractTarFile(file: string, target: string, opts: ExtractOptions): Promise<ExtractResult> {
  return extractTar(createReadStream(file, { highWaterMark: 1 << 20 }), target, { what: `tarball ${file}`, ...opts });
}
