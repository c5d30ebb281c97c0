/**
 * The image blob cache as `cm cache` sees it: <cache>/blobs/sha256/ (image/blob-store.ts fills it; the
 * names are in core/cache-names.ts). Listing sums the complete blobs and partial downloads; pruning
 * removes them, safely next to a pull that runs at the same time:
 *   - a blob or partial download whose lock `.<hex>.lock` is held by a live process is kept (it is
 *     being downloaded); otherwise prune holds that lock itself while it removes them, so no pull
 *     starts on that blob meanwhile;
 *   - a pull that found a blob complete holds it open from then on (image/blob-store.ts `ensureOpen`),
 *     so a blob removed under a running pull is still read to its end: its space is freed when
 *     that pull closes it;
 *   - locks, partial downloads and manifests being written (`.tmp-<pid>`) of dead processes are
 *     leftovers: removed. Those of live processes are kept.
 * Bundles never read the cache: every layer is unpacked into the bundle's own rootfs.
 */
import { lstatSync, rmSync, unlinkSync } from "node:fs";
import { join } from "node:path";
import { type BlobFile, blobFile } from "../core/cache-names.ts";
import { isErrno } from "../errors.ts";
import { readDirOrEmpty } from "../host/fs.ts";
import { alive } from "../host/pid.ts";
import { clearStaleLock, takeoversFirst, tryLock } from "./lock.ts";

export function blobsDir(cache: string): string {
  return join(cache, "blobs", "sha256");
}

export interface BlobSummary {
  /** complete blobs */
  count: number;
  sizeBytes: number;
  /** partial downloads (in progress, or left by a killed cm) */
  partials: number;
  partialBytes: number;
  dir: string;
}

function entries(dir: string): { name: string; file: BlobFile }[] {
  const names = readDirOrEmpty(dir);
  const out: { name: string; file: BlobFile }[] = [];
  for (const name of names.sort()) {
    const file = blobFile(name);
    if (file) out.push({ name, file });
  }
  return out;
}

/** Size of a regular file, 0 when it is gone (or not a regular file: never cm's). */
function fileSize(path: string): number {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st.size : 0;
  } catch {
    return 0;
  }
}

export function blobSummary(cache: string): BlobSummary {
  const dir = blobsDir(cache);
  const s: BlobSummary = { count: 0, sizeBytes: 0, partials: 0, partialBytes: 0, dir };
  for (const { name, file } of entries(dir)) {
    if (file.kind === "blob") {
      s.count++;
      s.sizeBytes += fileSize(join(dir, name));
    } else if (file.kind === "partial") {
      s.partials++;
      s.partialBytes += fileSize(join(dir, name));
    }
  }
  return s;
}

export interface BlobPruneResult {
  /** complete blobs removed */
  removed: number;
  /** bytes of what was removed (blobs and partial downloads) */
  freedBytes: number;
  /** blobs being downloaded by a live process: kept */
  busy: { hex: string; pid: number }[];
  /** partial downloads, locks and temporary files of dead processes removed */
  leftovers: number;
}

/** Removes every blob and partial download not being downloaded now, and the leftovers of dead processes. */
export function pruneBlobs(cache: string): BlobPruneResult {
  const dir = blobsDir(cache);
  const r: BlobPruneResult = { removed: 0, freedBytes: 0, busy: [], leftovers: 0 };
  const listed = entries(dir);
  const hexes = new Set(listed.filter((e) => e.file.kind === "blob" || e.file.kind === "partial").map((e) => e.file.hex));
  for (const { name, file } of takeoversFirst(listed, (e) => e.name)) {
    if (file.kind === "lock" && !hexes.has(file.hex) && clearStaleLock(join(dir, name))) r.leftovers++;
    if (file.kind === "lock-takeover" && clearStaleLock(join(dir, name))) r.leftovers++;
    if ((file.kind === "tmp" || file.kind === "stale-lock") && !alive(file.pid)) {
      rmSync(join(dir, name), { recursive: true, force: true });
      r.leftovers++;
    }
  }
  for (const hex of hexes) {
    const lockPath = join(dir, `.${hex}.lock`);
    if (clearStaleLock(lockPath)) r.leftovers++;
    const lock = tryLock(lockPath);
    if (!("release" in lock)) {
      r.busy.push({ hex, pid: lock.heldBy });
      continue;
    }
    try {
      const blob = join(dir, hex);
      const partial = join(dir, `.${hex}.partial`);
      for (const [path, isBlob] of [
        [blob, true],
        [partial, false],
      ] as const) {
        let size: number;
        try {
          const st = lstatSync(path);
          if (!st.isFile()) continue; // not cm's: left alone
          size = st.size;
          unlinkSync(path);
        } catch (err) {
          if (isErrno(err, "ENOENT")) continue;
          throw err;
        }
        r.freedBytes += size;
        if (isBlob) r.removed++;
        else r.leftovers++;
      }
    } finally {
      lock.release();
    }
  }
  return r;
}
