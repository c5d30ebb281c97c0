/**
 * The compression of an archive stream, detected from its first bytes (gzip, zstd, xz, or none),
 * and the decompressed stream. gzip and zstd are Node's zlib; xz is `xz -dc` (package xz-utils).
 */
import { spawn } from "node:child_process";
import { Duplex, pipeline, Readable, type Transform } from "node:stream";
import { createGunzip, createZstdDecompress } from "node:zlib";
import { CmError } from "../errors.ts";
import { requireTool } from "../host/tools.ts";

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
  duplex.on("close", () => {
    if (xz.exitCode === null) xz.kill();
  });
  return duplex;
}

/** Output chunks of 64 KiB: fewer, larger buffers than zlib's default 16 KiB, for the same memory. */
const CHUNK = 64 * 1024;

/**
 * The decompressed bytes of `source`; `counted` sees every raw (compressed) chunk as it is read.
 * Destroys `source` when done or abandoned. A stream that cannot be decompressed is a CmError
 * "bad-archive" naming `what`.
 */
export async function* decompressed(source: Readable, what: string, counted?: (raw: Buffer) => void): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    let first: Buffer = Buffer.alloc(0);
    let ended = false;
    while (first.length < XZ.length && !ended) {
      const r = await it.next();
      if (r.done) ended = true;
      else {
        counted?.(r.value);
        first = first.length === 0 ? r.value : Buffer.concat([first, r.value]);
      }
    }
    const all = async function* (): AsyncGenerator<Buffer> {
      if (first.length) yield first;
      while (!ended) {
        const r = await it.next();
        if (r.done) return;
        counted?.(r.value);
        yield r.value;
      }
    };
    const compression = detectCompression(first);
    if (compression === "none") {
      yield* all();
      return;
    }
    const decoder: Transform | Duplex =
      compression === "gzip"
        ? createGunzip({ chunkSize: CHUNK })
        : compression === "zstd"
          ? createZstdDecompress({ chunkSize: CHUNK })
          : xzDecompressor();
    const out = pipeline(Readable.from(all()), decoder, () => {});
    try {
      for await (const c of out) yield c as Buffer;
    } catch (err) {
      if (err instanceof CmError) throw err;
      throw new CmError("bad-archive", `${what} could not be decompressed (${compression}): ${(err as Error).message}`, {
        hint: "the archive is damaged or truncated",
      });
    } finally {
      out.destroy();
    }
  } finally {
    source.destroy();
  }
}
