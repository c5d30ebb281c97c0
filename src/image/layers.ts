/**
 * Applying an image layer (a tar stream, gzip/zstd/uncompressed, detected from its first bytes) to a
 * root filesystem, with OCI whiteouts, and the same safety as every other rootfs source:
 *   - entries with ".." components or absolute paths are refused (the layer is hostile);
 *   - parent directories are resolved inside the rootfs (symlinks followed but kept inside it, as
 *     the container will see them), and the final component is never followed: nothing is
 *     written outside the rootfs;
 *   - hard links must point at a non-directory inside the rootfs;
 *   - device nodes and FIFOs are skipped (runc provides /dev; an ordinary user cannot create
 *     them), counted in the result;
 *   - as root, owners are kept; rootless, everything belongs to the invoking user and directories
 *     stay writable by it.
 * Whiteouts: ".wh.NAME" removes NAME from the lower layers, ".wh..wh..opq" empties its directory of
 * what lower layers put there. If `diffId` is given, the uncompressed stream's sha256 must match.
 */
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
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
  utimesSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { pipeline, Readable, type Transform } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { CmError, isErrno } from "../errors.ts";
import { removeTree, resolveInRoot } from "../host/fs.ts";
import { relieve } from "../host/memory.ts";
import { readTar } from "./tar-reader.ts";

export interface ApplyOptions {
  rootless: boolean;
  /** names the layer in errors: "layer 2 of docker.io/library/debian:bookworm" */
  what: string;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids), checked at the end */
  diffId?: string | undefined;
}

export interface ApplyResult {
  entries: number;
  skippedDevices: number;
}

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

function hostile(opts: ApplyOptions, path: string, why: string): CmError {
  return new CmError("hostile-layer", `${opts.what} has an unsafe entry ${JSON.stringify(path)}: ${why}`, {
    hint: "cm refuses layers that could write outside the root filesystem; do not use this image",
  });
}

/** "./usr/bin/" -> ["usr","bin"]; refuses "..", absolute paths and NUL. Pure. */
export function entryParts(path: string): string[] | "absolute" | "dotdot" {
  if (path.includes("\0")) return "dotdot";
  let p = path;
  while (p.startsWith("./")) p = p.slice(2);
  if (p.startsWith("/")) return "absolute";
  const parts = p.split("/").filter((c) => c !== "" && c !== ".");
  if (parts.includes("..")) return "dotdot";
  return parts;
}

/** Peeks at the first bytes and decompresses accordingly: gzip (1f 8b), zstd (28 b5 2f fd), else plain tar. */
async function* decompressed(source: Readable, what: string): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let first: Buffer = Buffer.alloc(0);
  let ended = false;
  while (first.length < 4 && !ended) {
    const r = await it.next();
    if (r.done) ended = true;
    else first = Buffer.concat([first, r.value]);
  }
  async function* all(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    while (!ended) {
      const r = await it.next();
      if (r.done) return;
      yield r.value;
    }
  }
  let decoder: Transform | undefined;
  if (first[0] === 0x1f && first[1] === 0x8b) decoder = createGunzip({ chunkSize: 64 * 1024 });
  else if (first[0] === 0x28 && first[1] === 0xb5 && first[2] === 0x2f && first[3] === 0xfd)
    decoder = createZstdDecompress({ chunkSize: 64 * 1024 });
  try {
    if (!decoder) {
      yield* all();
      return;
    }
    const out = pipeline(Readable.from(all()), decoder, () => {});
    try {
      for await (const c of out) yield c as Buffer;
    } catch (err) {
      if (err instanceof CmError) throw err;
      throw new CmError("bad-layer", `${what} could not be decompressed: ${(err as Error).message}`, {
        hint: "the image is damaged; pull it again",
      });
    }
  } finally {
    source.destroy();
  }
}

async function* hashing(
  source: AsyncIterable<Buffer>,
  hash: ReturnType<typeof createHash>,
  count: { bytes: number },
): AsyncGenerator<Buffer> {
  for await (const c of source) {
    hash.update(c);
    count.bytes += c.length;
    relieve(c.length);
    yield c;
  }
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    throw err;
  }
}

export async function applyLayer(source: Readable, rootfs: string, opts: ApplyOptions): Promise<ApplyResult> {
  const hash = createHash("sha256");
  const count = { bytes: 0 };
  const result: ApplyResult = { entries: 0, skippedDevices: 0 };
  /** paths (joined parts) this layer created: an opaque whiteout keeps them */
  const fromThisLayer = new Set<string>();
  const dirs: { host: string; mode: number; mtime: number }[] = [];
  const asRoot = !opts.rootless;
  const stream = hashing(decompressed(source, opts.what), hash, count);
  try {
    for await (const e of readTar(stream)) {
      result.entries++;
      // Each entry leaves small objects behind (header, path strings, stat results): with many small
      // files these, not the streamed bytes, grow the heap. Count each as 64 KiB of pressure.
      relieve(64 * 1024);
      const parts = entryParts(e.path);
      if (parts === "absolute") throw hostile(opts, e.path, "absolute path");
      if (parts === "dotdot") throw hostile(opts, e.path, "it climbs out with ..");
      if (parts.length === 0) continue; // the root directory itself
      const base = parts[parts.length - 1] as string;
      const parentParts = parts.slice(0, -1);
      const parent = resolveInRoot(rootfs, `/${parentParts.join("/")}`);
      if (base.startsWith(WHITEOUT)) {
        applyWhiteout(rootfs, parent, parentParts, base, fromThisLayer, opts, e.path);
        continue;
      }
      mkdirParents(rootfs, parent, opts, e.path);
      const host = join(parent, base);
      const key = parts.join("/");
      switch (e.type) {
        case "directory": {
          const st = lstatOrUndefined(host);
          if (st && !st.isDirectory()) removeTree(host);
          if (!st?.isDirectory()) mkdirSync(host, { mode: 0o700 });
          if (asRoot) lchownSync(host, e.uid, e.gid);
          dirs.push({ host, mode: opts.rootless ? e.mode | 0o700 : e.mode, mtime: e.mtime });
          break;
        }
        case "file": {
          clear(host);
          const fd = openSync(host, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
          try {
            for await (const chunk of e.body) {
              let off = 0;
              while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
            }
            if (asRoot) fchownSync(fd, e.uid, e.gid);
            fchmodSync(fd, e.mode);
            futimesSync(fd, e.mtime, e.mtime);
          } finally {
            closeSync(fd);
          }
          break;
        }
        case "symlink": {
          if (e.linkpath.includes("\0")) throw hostile(opts, e.path, "bad link target");
          clear(host);
          symlinkSync(e.linkpath, host);
          if (asRoot) lchownSync(host, e.uid, e.gid);
          lutimesSync(host, e.mtime, e.mtime);
          break;
        }
        case "hardlink": {
          const target = entryParts(e.linkpath);
          if (target === "absolute" || target === "dotdot" || target.length === 0)
            throw hostile(opts, e.path, `hard link to ${JSON.stringify(e.linkpath)}`);
          const targetHost = join(resolveInRoot(rootfs, `/${target.slice(0, -1).join("/")}`), target[target.length - 1] as string);
          const st = lstatOrUndefined(targetHost);
          if (!st || st.isDirectory())
            throw hostile(opts, e.path, `hard link to ${JSON.stringify(e.linkpath)}, which is not a file in the image`);
          if (targetHost === host) break;
          clear(host);
          linkSync(targetHost, host);
          break;
        }
        case "char":
        case "block":
        case "fifo":
          // runc provides /dev; device nodes from an image are not needed and, rootless, not possible.
          result.skippedDevices++;
          continue;
        default:
          throw new CmError("bad-layer", `${opts.what} has an entry ${JSON.stringify(e.path)} of a kind cm cannot unpack`, {
            hint: "only files, directories, links and devices are supported in layers",
          });
      }
      fromThisLayer.add(key);
    }
  } catch (err) {
    if (err instanceof CmError) throw err;
    if (isErrno(err, "ENOSPC") || isErrno(err, "EDQUOT")) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new CmError("bad-layer", `could not unpack ${opts.what}: ${e.message}`, { cause: err });
  }
  // Directory modes and times last (deepest first), so that read-only directories do not stop the unpacking.
  for (let i = dirs.length - 1; i >= 0; i--) {
    const d = dirs[i] as { host: string; mode: number; mtime: number };
    chmodSync(d.host, d.mode);
    utimesSync(d.host, d.mtime, d.mtime);
  }
  if (opts.diffId && `sha256:${hash.digest("hex")}` !== opts.diffId) {
    throw new CmError("digest-mismatch", `${opts.what} does not match its digest in the image config (${opts.diffId})`, {
      hint: "the image is damaged or was tampered with; nothing was created",
    });
  }
  return result;
}

/** Removes whatever is at host (never following a symlink), so a new entry can take its place. */
function clear(host: string): void {
  const st = lstatOrUndefined(host);
  if (!st) return;
  if (st.isDirectory()) removeTree(host);
  else unlinkSync(host);
}

/** Creates missing parent directories (0755, owned like the rootfs' root) for an entry. */
function mkdirParents(rootfs: string, parent: string, opts: ApplyOptions, path: string): void {
  const st = lstatOrUndefined(parent);
  if (st?.isDirectory()) return;
  if (st) throw hostile(opts, path, "its parent is not a directory");
  mkdirSync(parent, { recursive: true, mode: 0o755 });
  if (!opts.rootless) {
    const root = lstatSync(rootfs);
    chownSync(parent, root.uid, root.gid);
  }
}

function applyWhiteout(
  rootfs: string,
  parent: string,
  parentParts: string[],
  base: string,
  fromThisLayer: Set<string>,
  opts: ApplyOptions,
  path: string,
): void {
  const name = base.slice(WHITEOUT.length);
  if (base !== OPAQUE && (name === "" || name === "." || name === ".." || name.includes("/"))) throw hostile(opts, path, "bad whiteout");
  const st = lstatOrUndefined(parent);
  if (!st?.isDirectory()) return; // nothing below to hide
  if (base === OPAQUE) {
    for (const name of readdirSync(parent)) {
      if (!fromThisLayer.has([...parentParts, name].join("/"))) removeTree(join(parent, name));
    }
    return;
  }
  if (!join(parent, name).startsWith(`${rootfs}/`)) throw hostile(opts, path, "whiteout outside the root filesystem");
  removeTree(join(parent, name));
}
