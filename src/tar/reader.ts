/**
 * cm's one tar reader (POSIX ustar and pax, GNU tar's gnu format with long names, base-256
 * numbers): an async generator of entries over an async iterable of byte chunks. Each entry's body
 * is itself an async iterable that must be consumed (or skipped) before the next entry is asked
 * for. Nothing is buffered beyond one chunk. Used by the extractor (extract.ts) for every rootfs
 * tarball and image layer, and by docker-archive to find its members.
 *
 * Extended attributes come from pax records: `SCHILY.xattr.NAME=<raw bytes>` (GNU tar --xattrs,
 * Docker, BuildKit, Go's archive/tar) and `LIBARCHIVE.xattr.NAME=<base64>` (bsdtar, NAME
 * %-encoded). Damage is a CmError "bad-tar" whose message says only what is wrong; callers
 * name the archive.
 */
import { CmError } from "../errors.ts";

export type EntryType = "file" | "hardlink" | "symlink" | "char" | "block" | "directory" | "fifo" | "other";

export interface TarEntry {
  path: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkpath: string;
  /** device numbers (char and block devices) */
  devmajor: number;
  devminor: number;
  /** extended attributes from pax records, name -> value (undefined when there are none) */
  xattrs: Map<string, Buffer> | undefined;
  /** where the entry's data starts in the (uncompressed) stream */
  offset: number;
  body: AsyncIterable<Buffer>;
}

const BLOCK = 512;

function bad(why: string): CmError {
  return new CmError("bad-tar", why, { hint: "the archive is damaged or is not a tar archive" });
}

/** Pulls exact byte counts out of a chunk stream. */
class ByteReader {
  private chunks: Buffer[] = [];
  private length = 0;
  private done = false;
  /** bytes handed out so far: the offset of the next byte in the stream */
  position = 0;
  private readonly it: AsyncIterator<Buffer>;
  constructor(it: AsyncIterator<Buffer>) {
    this.it = it;
  }

  private async fill(n: number): Promise<void> {
    while (this.length < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else if (r.value.length > 0) {
        this.chunks.push(r.value);
        this.length += r.value.length;
      }
    }
  }

  /** Exactly n bytes, or fewer at the end of the stream. */
  async read(n: number): Promise<Buffer> {
    await this.fill(n);
    const all = this.chunks.length === 1 ? (this.chunks[0] as Buffer) : Buffer.concat(this.chunks);
    const out = all.subarray(0, Math.min(n, all.length));
    const left = all.subarray(out.length);
    this.chunks = left.length ? [left] : [];
    this.length = left.length;
    this.position += out.length;
    return out;
  }

  /** n bytes as a sequence of chunks (as they come). */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.length === 0) await this.fill(1);
      if (this.length === 0) throw bad("it ends in the middle of a file");
      const c = this.chunks.shift() as Buffer;
      this.length -= c.length;
      if (c.length > left) {
        this.chunks.unshift(c.subarray(left));
        this.length += c.length - left;
        this.position += left;
        yield c.subarray(0, left);
        left = 0;
      } else {
        left -= c.length;
        this.position += c.length;
        yield c;
      }
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) {
      // discard
    }
  }

  /** Reads (and discards) everything that is left, so that a hash over the stream is complete. */
  async drain(): Promise<void> {
    this.chunks = [];
    this.length = 0;
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
    }
  }
}

function cstring(b: Buffer): string {
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString("utf8");
}

function number(b: Buffer): number {
  if ((b[0] as number) & 0x80) {
    // base-256 (GNU): big-endian, the first byte's top bit is the marker
    let v = (b[0] as number) & 0x7f;
    for (let i = 1; i < b.length; i++) v = v * 256 + (b[i] as number);
    return v;
  }
  const s = cstring(b).trim();
  if (s === "") return 0;
  if (!/^[0-7]+$/.test(s)) throw bad(`bad number field ${JSON.stringify(s)}`);
  return Number.parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
  return sum === number(h.subarray(148, 156));
}

interface Pax {
  fields: Record<string, string>;
  xattrs: Map<string, Buffer> | undefined;
}

const SCHILY = "SCHILY.xattr.";
const LIBARCHIVE = "LIBARCHIVE.xattr.";

/** pax extended header records: "LEN key=value\n"; xattr values are bytes, not text. Exported for tests. */
export function parsePax(data: Buffer, into: Pax = { fields: {}, xattrs: undefined }): Pax {
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = Number.parseInt(data.subarray(i, sp).toString("ascii"), 10);
    if (!Number.isSafeInteger(len) || len <= sp - i || i + len > data.length || data[i + len - 1] !== 0x0a) throw bad("bad pax header");
    const rec = data.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq > 0) {
      const key = rec.subarray(0, eq).toString("utf8");
      const value = rec.subarray(eq + 1);
      if (key.startsWith(SCHILY)) {
        into.xattrs ??= new Map();
        into.xattrs.set(key.slice(SCHILY.length), Buffer.from(value));
      } else if (key.startsWith(LIBARCHIVE)) {
        let name: string;
        try {
          name = decodeURIComponent(key.slice(LIBARCHIVE.length));
        } catch {
          name = key; // not a valid name: kept as is, so that it counts as an attribute cm ignores
        }
        into.xattrs ??= new Map();
        into.xattrs.set(name, Buffer.from(value.toString("latin1"), "base64"));
      } else into.fields[key] = value.toString("utf8");
    }
    i += len;
  }
  return into;
}

const TYPES: Record<string, EntryType> = {
  "0": "file",
  "\0": "file",
  "7": "file",
  "1": "hardlink",
  "2": "symlink",
  "3": "char",
  "4": "block",
  "5": "directory",
  "6": "fifo",
};

const MAX_META = 1 << 20;

function paxNumber(s: string, fraction = false): number {
  const n = Number(s);
  const ok = fraction ? Number.isFinite(n) : Number.isSafeInteger(n) && n >= 0;
  if (s.trim() === "" || !ok) throw bad(`bad pax number ${JSON.stringify(s)}`);
  return n;
}

const EMPTY: AsyncIterable<Buffer> = {
  [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }),
};

export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  let pax: Pax = { fields: {}, xattrs: undefined };
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const h = await r.read(BLOCK);
    if (h.length === 0) return; // no end-of-archive blocks: tolerated, as GNU tar does
    if (h.length < BLOCK) throw bad("it ends in the middle of a header");
    if (h.every((b) => b === 0)) {
      await r.drain();
      return;
    }
    if (!checksumOk(h)) throw bad("a header checksum is wrong");
    const flag = String.fromCharCode(h[156] as number);
    const size = number(h.subarray(124, 136));
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (flag === "x" || flag === "g" || flag === "L" || flag === "K") {
      if (size > MAX_META) throw bad("an extended header is too large");
      const data = await r.read(padded);
      if (data.length < padded) throw bad("it ends in the middle of an extended header");
      const content = data.subarray(0, size);
      if (flag === "x") parsePax(content, pax);
      else if (flag === "L") longName = cstring(content);
      else if (flag === "K") longLink = cstring(content);
      continue; // "g" (global) headers carry nothing cm uses
    }
    const magic = h.subarray(257, 263).toString("latin1");
    const prefix = magic === "ustar\0" ? cstring(h.subarray(345, 500)) : "";
    let path = longName ?? (prefix ? `${prefix}/${cstring(h.subarray(0, 100))}` : cstring(h.subarray(0, 100)));
    let linkpath = longLink ?? cstring(h.subarray(157, 257));
    const f = pax.fields;
    if (f.path !== undefined) path = f.path;
    if (f.linkpath !== undefined) linkpath = f.linkpath;
    const realSize = f.size !== undefined ? Number(f.size) : size;
    if (!Number.isSafeInteger(realSize) || realSize < 0) throw bad("bad size");
    const entry: TarEntry = {
      path,
      type: TYPES[flag] ?? "other",
      mode: number(h.subarray(100, 108)) & 0o7777,
      uid: f.uid !== undefined ? paxNumber(f.uid) : number(h.subarray(108, 116)),
      gid: f.gid !== undefined ? paxNumber(f.gid) : number(h.subarray(116, 124)),
      size: realSize,
      mtime: f.mtime !== undefined ? paxNumber(f.mtime, true) : number(h.subarray(136, 148)),
      linkpath,
      devmajor: magic.startsWith("ustar") ? number(h.subarray(329, 337)) : 0,
      devminor: magic.startsWith("ustar") ? number(h.subarray(337, 345)) : 0,
      xattrs: pax.xattrs,
      offset: r.position,
      body: EMPTY,
    };
    pax = { fields: {}, xattrs: undefined };
    longName = undefined;
    longLink = undefined;
    // Links, directories and devices have no data even if a size is given (except in pax files).
    const dataSize = entry.type === "file" || entry.type === "other" ? entry.size : 0;
    let taken = 0;
    const body = r.stream(dataSize);
    entry.body = {
      async *[Symbol.asyncIterator]() {
        for await (const c of body) {
          taken += c.length;
          yield c;
        }
      },
    };
    yield entry;
    // Whatever the consumer did not read is skipped.
    if (taken < dataSize) {
      await body.return(undefined);
      await r.skip(dataSize - taken);
    }
    const pad = Math.ceil(dataSize / BLOCK) * BLOCK - dataSize;
    if (pad) await r.skip(pad);
  }
}
