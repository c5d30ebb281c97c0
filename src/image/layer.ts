/**
 * One image layer from a directory tree, deterministically: a tar of the tree (entries in sorted
 * order, depth first; times clamped to SOURCE_DATE_EPOCH; numeric ids as seen inside the
 * container; hard links as links to the first path), gzip-compressed, written to a file while both
 * digests are computed: the diff_id (sha256 of the tar) and the blob digest (sha256 of the gzip).
 * The same tree gives the same bytes, so the same digest (Node's zlib at a fixed level writes no
 * time or name into the gzip header).
 *
 * Ownership: a bundle's files belong to host ids; the image must carry the ids the container sees.
 * `idInside` maps a host id through the bundle's recorded user-namespace mapping (config.json's
 * linux.uidMappings/gidMappings): a rootless bundle's single mapping (0 -> the user's uid) makes
 * the user's files root's; a subordinate-range mapping (0 -> uid, 1..N -> subuid_start..) makes
 * subuid_start+N-1 id N. A root bundle has no mapping: ids stay as they are.
 */
import { createHash } from "node:crypto";
import {
  closeSync,
  constants,
  createWriteStream,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from "node:fs";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { IdMapping } from "../core/runtime-spec/types.ts";
import { CmError, isErrno } from "../errors.ts";
import { showBytes, utf8 } from "../host/decoding.ts";
import { realPath } from "../host/fs.ts";
import { END_OF_ARCHIVE, encodeHeader, padding, type WriteEntry, type WriteType } from "../tar/writer.ts";

/** The kernel's overflow id: what an id without a mapping shows as inside a user namespace. */
export const OVERFLOW_ID = 65534;

/**
 * The id a host id `hostId` has inside a container whose user namespace maps `mappings` (undefined
 * or empty: no user namespace, the identity). An id outside every mapping is the overflow id
 * 65534 (nobody), as the kernel shows it (user_namespaces(7)). Pure.
 */
export function idInside(hostId: number, mappings: readonly IdMapping[] | undefined): number {
  if (!mappings || mappings.length === 0) return hostId;
  for (const m of mappings) {
    if (hostId >= m.hostID && hostId < m.hostID + m.size) return m.containerID + (hostId - m.hostID);
  }
  return OVERFLOW_ID;
}

/** One tree that goes into the layer. */
export interface LayerTree {
  /** the directory on the host */
  dir: string;
  /** where it appears in the image ("" for the root; "project" for /project) */
  at: string;
  /** host id -> id in the image */
  uid: (hostId: number) => number;
  gid: (hostId: number) => number;
  /** true for a path (relative to `dir`, "/"-separated) that is left out */
  exclude?: ((rel: string, isDir: boolean) => boolean) | undefined;
}

export interface LayerResult {
  /** sha256 of the compressed blob */
  digest: string;
  /** sha256 of the uncompressed tar */
  diffId: string;
  /** bytes of the compressed blob */
  size: number;
  /** bytes of the uncompressed tar */
  tarSize: number;
  entries: number;
}

const CHUNK = 1024 * 1024;
const BATCH = 256 * 1024;

function typeOf(st: Stats): WriteType | undefined {
  if (st.isFile()) return "file";
  if (st.isDirectory()) return "directory";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return undefined; // sockets: not archived (as GNU tar)
}

function notUtf8(path: string, target: Buffer): never {
  throw new CmError("export-unreadable", `cannot export the link ${path}: its target "${showBytes(target)}" is not valid UTF-8`, {
    hint: "point it (in a cm run) at a name in UTF-8",
  });
}

function unreadable(path: string, err: unknown): CmError {
  const why = isErrno(err, "EACCES") ? "permission denied" : (err as Error).message;
  return new CmError("export-unreadable", `cannot read ${path}: ${why}`, {
    hint: "the bundle's files must be readable by you: export a root bundle as root",
  });
}

/**
 * The tar stream of `trees` (in order), as buffers of about 256 KiB. Times are clamped to `epoch`
 * (seconds). A file whose size changes while it is read is an error (something is writing the
 * bundle: a running container).
 */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: merged from the export branch; to split (issue 11)
export function* tarChunks(trees: readonly LayerTree[], epoch: number, counts: { entries: number }): Generator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const links = new Map<string, string>();
  const push = function* (b: Buffer): Generator<Buffer> {
    pending.push(b);
    pendingBytes += b.length;
    if (pendingBytes >= BATCH) {
      yield Buffer.concat(pending);
      pending = [];
      pendingBytes = 0;
    }
  };
  const readBuf = Buffer.allocUnsafe(CHUNK);
  const realRoots = new Map<LayerTree, string>();

  /**
   * The tree is writable by the container's processes, which may swap a file or a directory for a
   * symlink between the walk's lstat and the open (to get a host file such as ~/.ssh/id_rsa into
   * the image). The file is opened with O_NOFOLLOW, must be the same inode the walk saw, and its
   * real location (/proc/self/fd) must be inside the tree.
   */
  function checkOpened(fd: number, st: Stats, hostPath: string, tree: LayerTree): void {
    const now = fstatSync(fd);
    const root = realRoots.get(tree) as string;
    let where = "";
    try {
      where = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      // no /proc: the inode check stands alone
      where = root;
    }
    if (now.ino !== st.ino || now.dev !== st.dev || !now.isFile() || (where !== root && !where.startsWith(`${root}/`))) {
      throw new CmError("export-changed", `${hostPath} was replaced while it was exported`, {
        hint: "stop the bundle's running containers (cm ps, cm stop) and export again",
      });
    }
  }

  function* entry(tree: LayerTree, hostPath: string, archivePath: string, st: Stats): Generator<Buffer> {
    const type = typeOf(st);
    if (!type) return;
    const base: WriteEntry = {
      path: archivePath,
      type,
      mode: st.mode & 0o7777,
      uid: tree.uid(st.uid),
      gid: tree.gid(st.gid),
      size: 0,
      mtime: Math.min(Math.floor(st.mtimeMs / 1000), epoch),
    };
    counts.entries++;
    if (type === "symlink") {
      let target: string;
      try {
        const bytes = readlinkSync(hostPath, { encoding: "buffer" });
        target = utf8(bytes) ?? notUtf8(hostPath, bytes);
      } catch (err) {
        if (err instanceof CmError) throw err;
        throw unreadable(hostPath, err);
      }
      yield* push(encodeHeader({ ...base, linkpath: target }));
      return;
    }
    if (type === "char" || type === "block") {
      const rdev = Number(st.rdev);
      yield* push(encodeHeader({ ...base, devmajor: (rdev >> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) }));
      return;
    }
    if (type !== "file") {
      yield* push(encodeHeader(base));
      return;
    }
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        yield* push(encodeHeader({ ...base, type: "hardlink", linkpath: first }));
        return;
      }
      links.set(key, archivePath);
    }
    let fd: number;
    try {
      fd = openSync(hostPath, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      throw unreadable(hostPath, err);
    }
    try {
      checkOpened(fd, st, hostPath, tree);
      yield* push(encodeHeader({ ...base, size: st.size }));
      let left = st.size;
      while (left > 0) {
        const n = readSync(fd, readBuf, 0, Math.min(CHUNK, left), null);
        if (n === 0) break;
        left -= n;
        yield* push(Buffer.from(readBuf.subarray(0, n)));
      }
      const extra = left === 0 ? readSync(fd, readBuf, 0, 1, null) : 0;
      if (left !== 0 || extra !== 0) {
        throw new CmError("export-changed", `${hostPath} changed size while it was exported`, {
          hint: "stop the bundle's running containers (cm ps, cm stop) and export again",
        });
      }
      yield* push(padding(st.size));
    } finally {
      closeSync(fd);
    }
  }

  function* walk(tree: LayerTree, dir: string, rel: string): Generator<Buffer> {
    let raw: Buffer[];
    try {
      raw = readdirSync(dir, { encoding: "buffer" });
    } catch (err) {
      throw unreadable(dir, err);
    }
    // a name that is not valid UTF-8 would be read as U+FFFD: another name, or none
    const names = raw.map((b) => {
      const name = utf8(b);
      if (name === undefined) {
        throw new CmError("export-unreadable", `cannot export ${dir}/${showBytes(b)}: its name is not valid UTF-8`, {
          hint: "rename it (in a cm run) to a name in UTF-8",
        });
      }
      return name;
    });
    names.sort();
    for (const name of names) {
      const hostPath = join(dir, name);
      const childRel = rel === "" ? name : `${rel}/${name}`;
      let st: Stats;
      try {
        st = lstatSync(hostPath);
      } catch (err) {
        // a container can nest names past PATH_MAX (4096 bytes); the walk uses whole paths
        if (isErrno(err, "ENAMETOOLONG"))
          throw new CmError("export-unreadable", `cannot export ${tree.dir}: a path in it is longer than 4096 bytes`, {
            hint: "shorten or remove that tree (in a cm run) before exporting",
          });
        throw unreadable(hostPath, err);
      }
      if (tree.exclude?.(childRel, st.isDirectory())) continue;
      const archivePath = tree.at === "" ? childRel : `${tree.at}/${childRel}`;
      yield* entry(tree, hostPath, archivePath, st);
      if (st.isDirectory()) yield* walk(tree, hostPath, childRel);
    }
  }

  for (const tree of trees) {
    realRoots.set(tree, realPath(tree.dir));
    if (tree.at !== "") yield* entry(tree, tree.dir, tree.at, lstatSync(tree.dir));
    yield* walk(tree, tree.dir, "");
  }
  yield* push(END_OF_ARCHIVE);
  if (pendingBytes > 0) yield Buffer.concat(pending);
}

/** A pass-through that hashes and counts what flows through it. */
function hashing(seen?: (size: number) => void): { stream: Transform; result: () => { digest: string; size: number } } {
  const hash = createHash("sha256");
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      seen?.(size);
      cb(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${hash.digest("hex")}`, size }) };
}

/** gzip level of layers: zlib's default (6), as Docker, Podman and skopeo compress layers. */
export const GZIP_LEVEL = 6;

/**
 * Compresses a tar stream into the layer blob `file`, returning both digests and sizes.
 * `progress` is called with the uncompressed bytes so far.
 */
export async function writeLayerFromTar(
  tarStream: Readable,
  file: string,
  counts: { entries: number },
  progress?: (tarBytes: number, entries: number) => void,
): Promise<LayerResult> {
  let last = 0;
  const tar = hashing((tarBytes) => {
    if (progress && tarBytes - last > 4 * 1024 * 1024) {
      last = tarBytes;
      progress(tarBytes, counts.entries);
    }
  });
  const gz = hashing();
  await pipeline(tarStream, tar.stream, createGzip({ level: GZIP_LEVEL }), gz.stream, createWriteStream(file, { mode: 0o644 }));
  const t = tar.result();
  const g = gz.result();
  return { digest: g.digest, diffId: t.digest, size: g.size, tarSize: t.size, entries: counts.entries };
}

/**
 * Writes the gzip-compressed layer of `trees` to `file` and returns its digests and sizes.
 * `progress` is called with the uncompressed bytes written so far.
 */
export async function writeLayer(
  trees: readonly LayerTree[],
  epoch: number,
  file: string,
  progress?: (tarBytes: number, entries: number) => void,
): Promise<LayerResult> {
  const counts = { entries: 0 };
  return writeLayerFromTar(Readable.from(tarChunks(trees, epoch, counts), { objectMode: false }), file, counts, progress);
}
