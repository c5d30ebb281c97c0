/**
 * Writing tar archives, deterministically: the same entries give the same bytes. POSIX ustar
 * headers, with a pax extended header ("x") only for what ustar cannot hold (a path or link
 * target longer than its field, or not ASCII; a size, id or time out of its octal range). No
 * atime/ctime, no user or group names, numeric ids only: what an image layer needs (the OCI image
 * spec's layer format, image-spec/layer.md). Pure: the caller streams the file data after each
 * header and the padding after it.
 *
 * Why our own (about 100 lines) rather than the npm `tar-stream`: cm needs byte-for-byte stable
 * output for image digests and full control of what goes into a header (no atime, no names, pax
 * only when needed); tar-stream's pack decides these itself (it writes uname/gname and its own pax
 * rules) and would be a second stream API around the same 512-byte blocks.
 */

export type WriteType = "file" | "directory" | "symlink" | "hardlink" | "char" | "block" | "fifo";

export interface WriteEntry {
  /** relative path, no leading "/" or "./"; a directory's without trailing "/" (added here) */
  path: string;
  type: WriteType;
  /** permission bits and set-id/sticky bits (07777) */
  mode: number;
  uid: number;
  gid: number;
  /** bytes of data that follow (files only; 0 for the rest) */
  size: number;
  /** modification time, whole seconds since the epoch */
  mtime: number;
  /** symlink target, or the archive path a hardlink points at */
  linkpath?: string | undefined;
  devmajor?: number | undefined;
  devminor?: number | undefined;
}

const TYPEFLAG: Record<WriteType, string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  char: "3",
  block: "4",
  directory: "5",
  fifo: "6",
};

/** Two zero blocks: the end of an archive. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(1024);

/** Zero bytes that pad `size` bytes of data to a whole 512-byte block. */
export function padding(size: number): Buffer {
  const rest = size % 512;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(512 - rest);
}

function fitsOctal(n: number, width: number): boolean {
  return Number.isInteger(n) && n >= 0 && n < 8 ** (width - 1);
}

function octal(buf: Buffer, offset: number, width: number, n: number): void {
  buf.write(`${n.toString(8).padStart(width - 1, "0")}\0`, offset, width, "ascii");
}

/** A pax record "LEN key=value\n", where LEN counts the whole record in bytes. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(len - bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

function ascii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

function block(name: string, e: Omit<WriteEntry, "path" | "linkpath">, typeflag: string, linkname: string): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  octal(h, 100, 8, e.mode & 0o7777);
  octal(h, 108, 8, fitsOctal(e.uid, 8) ? e.uid : 0);
  octal(h, 116, 8, fitsOctal(e.gid, 8) ? e.gid : 0);
  octal(h, 124, 12, fitsOctal(e.size, 12) ? e.size : 0);
  octal(h, 136, 12, fitsOctal(e.mtime, 12) ? e.mtime : 0);
  h.write("        ", 148, 8, "ascii");
  h.write(typeflag, 156, 1, "ascii");
  h.write(linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, 6, "ascii");
  h.write("00", 263, 2, "ascii");
  octal(h, 329, 8, e.devmajor ?? 0);
  octal(h, 337, 8, e.devminor ?? 0);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8, "ascii");
  return h;
}

/**
 * The header block(s) of one entry: a pax extended header first when the entry needs one. Throws
 * (a plain Error: a bug in the caller) on a negative or fractional size, id or time.
 */
export function encodeHeader(entry: WriteEntry): Buffer {
  for (const [k, v] of [
    ["size", entry.size],
    ["uid", entry.uid],
    ["gid", entry.gid],
    ["mtime", entry.mtime],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`tar entry ${entry.path}: bad ${k} ${v}`);
  }
  const path = entry.type === "directory" ? `${entry.path.replace(/\/+$/, "")}/` : entry.path;
  const linkpath = entry.linkpath ?? "";
  const records: string[] = [];
  const longPath = Buffer.byteLength(path) > 100 || !ascii(path);
  const longLink = Buffer.byteLength(linkpath) > 100 || !ascii(linkpath);
  if (longPath) records.push(paxRecord("path", path));
  if (longLink) records.push(paxRecord("linkpath", linkpath));
  if (!fitsOctal(entry.size, 12)) records.push(paxRecord("size", String(entry.size)));
  if (!fitsOctal(entry.uid, 8)) records.push(paxRecord("uid", String(entry.uid)));
  if (!fitsOctal(entry.gid, 8)) records.push(paxRecord("gid", String(entry.gid)));
  if (!fitsOctal(entry.mtime, 12)) records.push(paxRecord("mtime", String(entry.mtime)));
  const shortName = longPath ? asciiPrefix(path, 100) : path;
  const shortLink = longLink ? asciiPrefix(linkpath, 100) : linkpath;
  const main = block(shortName, entry, TYPEFLAG[entry.type], shortLink);
  if (records.length === 0) return main;
  const data = Buffer.from(records.join(""), "utf8");
  const pax = block(
    asciiPrefix(`PaxHeaders/${path}`, 100),
    { type: "file", mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: fitsOctal(entry.mtime, 12) ? entry.mtime : 0 },
    "x",
    "",
  );
  return Buffer.concat([pax, data, padding(data.length), main]);
}

/** The first bytes of `text` that are plain ASCII and fit `max` bytes (a readable stand-in name). */
function asciiPrefix(text: string, max: number): string {
  return text.replace(/[^\x20-\x7e]/g, "_").slice(0, max);
}
