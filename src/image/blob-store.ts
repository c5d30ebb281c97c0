/**
 * The content-addressed blob cache: <cache>/blobs/sha256/<hex>. A blob is there only when complete
 * and verified (size and sha256), so a second pull of the same image downloads no blob.
 *
 * A download streams to <hex>.partial while hashing, then is checked and renamed into place. An
 * interrupted download (network error mid-body: retried at once; a killed cm: the next pull) is
 * resumed with an HTTP Range request from the partial file, re-hashing what it already holds; if
 * the server ignores the Range, it restarts. One downloader per blob at a time (a lock), so
 * concurrent pulls of the same image share the work. A size or digest mismatch deletes the partial
 * file and is an error.
 *
 * `cm cache prune` may remove blobs while a pull runs (store/blobcache.ts): it never touches a blob
 * whose lock is held, and a pull holds each blob it uses open (`ensureOpen`) from the moment it
 * finds it complete, so a blob removed meanwhile is still read whole.
 */
import { createHash, type Hash } from "node:crypto";
import {
  closeSync,
  createReadStream,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CmError } from "../errors.ts";
import { relieve } from "../host/memory.ts";
import { blobsDir } from "../store/blobcache.ts";
import { waitLock } from "../store/lock.ts";
import type { Descriptor } from "./manifest.ts";

export interface Download {
  /** the response body from `offset` on (206) or the whole blob (200) */
  status: number;
  body: AsyncIterable<Uint8Array>;
  /** for a 206: the first byte of the range returned */
  rangeStart?: number | undefined;
}

/** Opens the blob's body, asking for bytes from `offset` when it is > 0. */
export type Opener = (offset: number) => Promise<Download>;

export class BlobStore {
  readonly root: string;
  constructor(cache: string) {
    this.root = blobsDir(cache);
  }

  path(digest: string): string {
    return join(this.root, digest.slice("sha256:".length));
  }

  /** True when the blob is in the cache with the descriptor's size. */
  has(desc: Descriptor): boolean {
    try {
      return statSync(this.path(desc.digest)).size === desc.size;
    } catch {
      return false;
    }
  }

  /** The complete blob opened for reading, or undefined when it is not in the cache (whole). */
  private openCached(desc: Descriptor): number | undefined {
    let fd: number;
    try {
      fd = openSync(this.path(desc.digest), "r");
    } catch {
      return undefined;
    }
    if (fstatSync(fd).size === desc.size) return fd;
    closeSync(fd);
    return undefined;
  }

  /** Makes sure the blob is in the cache; returns its path. `onBytes` reports progress (total so far). */
  async ensure(desc: Descriptor, what: string, open: Opener, onBytes: (bytes: number) => void, attempts = 4): Promise<string> {
    closeSync(await this.ensureOpen(desc, what, open, onBytes, attempts));
    return this.path(desc.digest);
  }

  /**
   * Makes sure the blob is in the cache and returns it open for reading (the caller closes the
   * descriptor). Opened before anything else can remove it: a cached blob at once, a downloaded
   * one while its lock is still held.
   */
  async ensureOpen(desc: Descriptor, what: string, open: Opener, onBytes: (bytes: number) => void, attempts = 4): Promise<number> {
    const final = this.path(desc.digest);
    const cached = this.openCached(desc);
    if (cached !== undefined) {
      onBytes(desc.size);
      return cached;
    }
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    const hex = desc.digest.slice("sha256:".length);
    const lock = await waitLock(join(this.root, `.${hex}.lock`));
    try {
      const again = this.openCached(desc);
      if (again !== undefined) {
        onBytes(desc.size);
        return again;
      }
      const partial = join(this.root, `.${hex}.partial`);
      let failures = 0;
      for (;;) {
        try {
          await this.download(desc, what, partial, open, onBytes);
          break;
        } catch (err) {
          if (err instanceof CmError || ++failures >= attempts) {
            if (err instanceof CmError && err.code === "digest-mismatch") rmSync(partial, { force: true });
            if (err instanceof CmError) throw err;
            throw new CmError("download-failed", `downloading ${what} failed: ${(err as Error).message}`, {
              hint: "check the network and run the command again: the download resumes where it stopped",
              cause: err,
            });
          }
          await sleep(250 * 2 ** failures);
        }
      }
      renameSync(partial, final);
      return openSync(final, "r");
    } finally {
      lock.release();
    }
  }

  private async download(desc: Descriptor, what: string, partial: string, open: Opener, onBytes: (n: number) => void): Promise<void> {
    let offset = 0;
    try {
      offset = statSync(partial).size;
    } catch {
      offset = 0;
    }
    if (offset > desc.size) {
      rmSync(partial, { force: true });
      offset = 0;
    }
    const hash = createHash("sha256");
    if (offset > 0) await hashFile(partial, hash);
    const res = offset === desc.size ? undefined : await open(offset);
    if (res && (res.status !== 206 || res.rangeStart !== offset)) {
      // The whole blob (the server ignored the Range): start again.
      return this.writeFrom(desc, what, partial, res, 0, createHash("sha256"), onBytes);
    }
    return this.writeFrom(desc, what, partial, res, offset, hash, onBytes);
  }

  private async writeFrom(
    desc: Descriptor,
    what: string,
    partial: string,
    res: Download | undefined,
    offset: number,
    hash: Hash,
    onBytes: (n: number) => void,
  ): Promise<void> {
    const fd = openSync(partial, offset === 0 ? "w" : "a", 0o644);
    let total = offset;
    onBytes(total);
    try {
      if (res) {
        for await (const chunk of res.body) {
          const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          total += buf.length;
          if (total > desc.size) {
            closeSync(fd);
            rmSync(partial, { force: true });
            throw new CmError("digest-mismatch", `${what} is larger than the ${desc.size} bytes its manifest declares`, {
              hint: "the registry sent something else than the image describes; nothing was created",
            });
          }
          hash.update(buf);
          relieve(buf.length);
          let off = 0;
          while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
          onBytes(total);
        }
      }
      fsyncSync(fd);
    } finally {
      try {
        closeSync(fd);
      } catch {
        // closed above
      }
    }
    if (total < desc.size) {
      // A truncated body: keep the partial file so the retry (or the next pull) resumes.
      throw new Error(`the connection ended after ${total} of ${desc.size} bytes`);
    }
    const got = `sha256:${hash.digest("hex")}`;
    if (got !== desc.digest) {
      throw new CmError("digest-mismatch", `${what} has digest ${got}, not ${desc.digest} as its manifest says`, {
        hint: "the registry sent damaged or different content; nothing was created",
      });
    }
  }

  /** Stores an in-memory blob (a manifest) under its digest. */
  put(digest: string, bytes: Buffer): void {
    const final = this.path(digest);
    if (existsSync(final)) return;
    mkdirSync(this.root, { recursive: true, mode: 0o755 });
    const tmp = join(this.root, `.${digest.slice("sha256:".length)}.tmp-${process.pid}`);
    const fd = openSync(tmp, "w", 0o644);
    try {
      writeSync(fd, bytes);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, final);
  }
}

function hashFile(path: string, hash: Hash): Promise<void> {
  return new Promise((resolve, reject) => {
    createReadStream(path)
      .on("data", (c) => hash.update(c))
      .on("end", () => resolve())
      .on("error", reject);
  });
}

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}
