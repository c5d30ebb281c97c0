/** cm cache list / prune: the cached bases. */
import { renameSync } from "node:fs";
import { join } from "node:path";
import { removeTree } from "../host/fs.ts";
import { type BaseInfo, baseLockPath, basesDir, listBases, staleWork } from "../store/cache.ts";
import { tryLock } from "../store/lock.ts";

export { listBases };

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
