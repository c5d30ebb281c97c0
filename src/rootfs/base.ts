/**
 * The base cache's fill-once protocol, for sources that keep a ready root filesystem in cm's cache
 * (debian: one per suite, architecture and package set), so that every bundle after the first is a
 * local copy.
 *
 * A fill is exclusive (a lock per key: a second cm waits, then uses what the first made) and atomic
 * (built as .<key>.tmp-<pid>, meta.json written, renamed into place), so an interrupted fill leaves
 * nothing a later create takes for a base; its leftovers go at the next fill or `cm cache prune`.
 * The cm that gets a base registers as its reader (under the lock) until it has copied it, so a
 * refresh by another cm waits before it replaces the base, and `cm cache prune` keeps it.
 */

import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { holder } from "../core/names.ts";
import { removeTree, writeFileAtomic } from "../host/fs.ts";
import { addReader, type BaseMeta, baseExists, baseLockPath, basesDir, liveReaders, readBaseMeta, staleWork } from "../store/bases.ts";
import { type Lock, tryLock, waitLock } from "../store/lock.ts";
import { treeSize } from "./size.ts";
import type { SourceContext } from "./source.ts";

export interface Base {
  dir: string;
  meta: BaseMeta | undefined;
  /** true when this cm filled it just now */
  made: boolean;
  /** ends this cm's reading of the base (call it once the copy is done, or failed) */
  release(): void;
}

export interface BaseFill {
  /** what is filled, for "waiting for another cm (pid N) to <what>" */
  what: string;
  /** the source text recorded in meta.json */
  source: string;
  /**
   * fills `rootfs` (an empty directory); returns the tool that did it and a note for the final line
   * (what could not be kept, e.g. file capabilities rootless), both recorded in meta.json
   */
  fill(rootfs: string): Promise<{ tool: string; note?: string | undefined }>;
}

/** True when the base `key` is complete in the cache (and --refresh does not ask for a new one). */
export function haveBase(ctx: SourceContext, key: string): boolean {
  return !ctx.refresh && baseExists(join(basesDir(ctx.cache), key));
}

/** The base's lock: held only for a moment by a cm that registers as a reader, long by one that fills it. */
async function lockBase(ctx: SourceContext, key: string, what: string): Promise<Lock> {
  const path = baseLockPath(ctx.cache, key);
  for (let i = 0; i < 20; i++) {
    const l = tryLock(path);
    if ("release" in l) return l;
    await sleep(10);
  }
  return waitLock(path, (pid) => ctx.progress.phase(`waiting for ${holder(pid)} to ${what}`));
}

/**
 * The cached base `key`, filled on first use (or with --refresh), with this cm registered as its
 * reader: copy it, then call `release()`.
 */
export async function ensureBase(ctx: SourceContext, key: string, f: BaseFill): Promise<Base> {
  const bases = basesDir(ctx.cache);
  const dir = join(bases, key);
  mkdirSync(bases, { recursive: true, mode: 0o755 });
  const lock = await lockBase(ctx, key, f.what);
  try {
    // Whoever held the lock may have just made it (a refresh by another cm counts too).
    if (haveBase(ctx, key)) return { dir, meta: readBaseMeta(dir), made: false, release: addReader(ctx.cache, key) };
    for (const stale of staleWork(ctx.cache, key)) removeTree(stale);
    const tmp = join(bases, `.${key}.tmp-${process.pid}`);
    removeTree(tmp);
    mkdirSync(join(tmp, "rootfs"), { recursive: true, mode: 0o755 });
    let meta: BaseMeta;
    try {
      const { tool, note } = await f.fill(join(tmp, "rootfs"));
      ctx.progress.phase("measuring the new base");
      meta = { key, source: f.source, tool, created: new Date().toISOString(), sizeBytes: await treeSize(join(tmp, "rootfs")) };
      if (note) meta.note = note;
      writeFileAtomic(join(tmp, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
    } catch (err) {
      removeTree(tmp);
      throw err;
    }
    if (existsSync(dir)) {
      // A refresh: the cms still copying the old base finish first (none can start: we hold the lock).
      for (let told = false; ; told = true) {
        const readers = liveReaders(ctx.cache, key);
        if (readers.length === 0) break;
        if (!told) ctx.progress.phase(`waiting for another cm (pid ${readers[0]}) to finish copying the old base`);
        await sleep(100);
      }
      const old = join(bases, `.${key}.old-${process.pid}`);
      renameSync(dir, old);
      renameSync(tmp, dir);
      removeTree(old);
    } else {
      renameSync(tmp, dir);
    }
    return { dir, meta, made: true, release: addReader(ctx.cache, key) };
  } finally {
    lock.release();
  }
}
