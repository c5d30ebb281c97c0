/**
 * The base cache's fill-once protocol, shared by the sources that keep a ready root filesystem in
 * cm's cache (debian: per suite, architecture and package set; images per manifest digest), so
 * that every bundle after the first is a local copy.
 *
 * A fill is exclusive (a lock per key: a second cm waits, then uses what the first made) and atomic
 * (built as .<key>.tmp-<pid>, meta.json written, renamed into place), so an interrupted fill leaves
 * nothing a later create takes for a base; its leftovers go at the next fill or `cm cache prune`.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { removeTree, writeFileAtomic } from "../host/fs.ts";
import { type BaseMeta, baseExists, baseLockPath, basesDir, readBaseMeta, staleWork } from "../store/cache.ts";
import { waitLock } from "../store/lock.ts";
import { treeSize } from "./size.ts";
import type { SourceContext } from "./source.ts";

export interface Base {
  dir: string;
  meta: BaseMeta | undefined;
  /** true when this cm filled it just now */
  made: boolean;
}

export interface BaseFill {
  /** what is filled, for "waiting for another cm (pid N) to <what>" */
  what: string;
  /** the source text recorded in meta.json */
  source: string;
  /** fills `rootfs` (an empty directory); returns the tool that did it, recorded in meta.json */
  fill(rootfs: string): Promise<string>;
}

/** True when the base `key` is complete in the cache (and --refresh does not ask for a new one). */
export function haveBase(ctx: SourceContext, key: string): boolean {
  return !ctx.refresh && baseExists(join(basesDir(ctx.cache), key));
}

/** The cached base `key`, filled on first use (or with --refresh). */
export async function ensureBase(ctx: SourceContext, key: string, f: BaseFill): Promise<Base> {
  const bases = basesDir(ctx.cache);
  const dir = join(bases, key);
  mkdirSync(bases, { recursive: true, mode: 0o755 });
  if (haveBase(ctx, key)) return { dir, meta: readBaseMeta(dir), made: false };
  const lock = await waitLock(baseLockPath(ctx.cache, key), (pid) =>
    ctx.progress.phase(`waiting for another cm (pid ${pid}) to ${f.what}`),
  );
  try {
    // Whoever held the lock may have just made it (a refresh by another cm counts too).
    if (haveBase(ctx, key)) return { dir, meta: readBaseMeta(dir), made: false };
    for (const stale of staleWork(ctx.cache, key)) removeTree(stale);
    const tmp = join(bases, `.${key}.tmp-${process.pid}`);
    removeTree(tmp);
    mkdirSync(join(tmp, "rootfs"), { recursive: true, mode: 0o755 });
    let meta: BaseMeta;
    try {
      const tool = await f.fill(join(tmp, "rootfs"));
      ctx.progress.phase("measuring the new base");
      meta = { key, source: f.source, tool, created: new Date().toISOString(), sizeBytes: await treeSize(join(tmp, "rootfs")) };
      writeFileAtomic(join(tmp, "meta.json"), `${JSON.stringify(meta, null, 2)}\n`);
    } catch (err) {
      removeTree(tmp);
      throw err;
    }
    if (existsSync(dir)) {
      const old = join(bases, `.${key}.old-${process.pid}`);
      renameSync(dir, old);
      renameSync(tmp, dir);
      removeTree(old);
    } else {
      renameSync(tmp, dir);
    }
    return { dir, meta, made: true };
  } finally {
    lock.release();
  }
}
