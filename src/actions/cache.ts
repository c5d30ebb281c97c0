/** cm cache list / prune: the cached bases and the image blob cache. */
import { renameSync } from "node:fs";
import { join } from "node:path";
import { BASES_KEY, BLOBS_KEY, type PrunePlan, prunePlan } from "../core/cache-names.ts";
import { removeTree } from "../host/fs.ts";
import { type BaseInfo, baseLockPath, basesDir, listBases, liveReaders, staleWork } from "../store/bases.ts";
import { type BlobPruneResult, type BlobSummary, blobSummary, pruneBlobs } from "../store/blobcache.ts";
import { tryLock } from "../store/lock.ts";

export { listBases };

/** One line of `cm cache list` (and one element of its --json array). */
export type CacheEntry =
  | ({ kind: "base" } & BaseInfo)
  | ({ kind: "blobs"; key: typeof BLOBS_KEY; source: string; tool: ""; created: ""; sizeBytes: number } & BlobSummary);

/**
 * The bases, then the blob cache as one entry (key "blobs") when it holds anything. Its sizeBytes
 * is everything it holds on disk, partial downloads included, so that the entries' sizes add up to
 * the cache's; `count`/`partials` say what it is made of.
 */
export function cacheEntries(cache: string): CacheEntry[] {
  const out: CacheEntry[] = listBases(cache).map((b) => ({ kind: "base", ...b }));
  const blobs = blobSummary(cache);
  if (blobs.count > 0 || blobs.partials > 0) {
    const source = `${blobs.count} image blob${blobs.count === 1 ? "" : "s"}${blobs.partials ? `, ${blobs.partials} partial download${blobs.partials === 1 ? "" : "s"}` : ""}`;
    out.push({ kind: "blobs", key: BLOBS_KEY, source, tool: "", created: "", ...blobs, sizeBytes: blobs.sizeBytes + blobs.partialBytes });
  }
  return out;
}

export interface CachePruneResult {
  plan: PrunePlan;
  bases: PruneResult | undefined;
  blobs: BlobPruneResult | undefined;
}

/** `cm cache prune [KEY...]`: checks the keys (core/cache-names.ts prunePlan), then prunes what they name. */
export function pruneCache(cache: string, keys: string[]): CachePruneResult {
  const plan = prunePlan(
    keys,
    listBases(cache).map((b) => b.key),
  );
  const bases = plan.bases === "none" ? undefined : pruneBases(cache, plan.bases === "all" ? [] : plan.bases);
  const blobs = plan.blobs ? pruneBlobs(cache) : undefined;
  return { plan, bases, blobs };
}

export { BASES_KEY, BLOBS_KEY };

export interface PruneResult {
  removed: BaseInfo[];
  busy: { key: string; pid: number }[];
  leftovers: number;
}

/** Removes the given bases (all when keys is empty) and stale work, skipping bases being filled. */
export function pruneBases(cache: string, keys: string[]): PruneResult {
  const result: PruneResult = { removed: [], busy: [], leftovers: 0 };
  for (const base of listBases(cache)) {
    if (keys.length && !keys.includes(base.key)) continue;
    const lock = tryLock(baseLockPath(cache, base.key));
    if (!("release" in lock)) {
      result.busy.push({ key: base.key, pid: lock.heldBy });
      continue;
    }
    try {
      // A cm copying it (a reader registered under the lock) keeps it.
      const reader = liveReaders(cache, base.key)[0];
      if (reader !== undefined) {
        result.busy.push({ key: base.key, pid: reader });
        continue;
      }
      // Renamed away first: a create that looks at the cache now sees no base, never half of one.
      const aside = join(basesDir(cache), `.${base.key}.old-${process.pid}`);
      renameSync(base.dir, aside);
      removeTree(aside);
      result.removed.push(base);
    } finally {
      lock.release();
    }
  }
  for (const dir of staleWork(cache)) {
    if (keys.length && !keys.some((k) => dir.includes(`/.${k}.`))) continue;
    removeTree(dir);
    result.leftovers++;
  }
  return result;
}
