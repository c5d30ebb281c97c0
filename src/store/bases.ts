/**
 * The base cache: <cache>/bases/<key>/{rootfs/,meta.json}, one per suite, architecture and package
 * set. A base directory exists only when complete: it is filled as `.<key>.tmp-<pid>` under the
 * lock `.<key>.lock` and renamed into place. Dot-names are work in progress (or left by a killed
 * cm: a later fill or `cm cache prune` removes those whose pid is gone). A cm copying a base is
 * its reader, `.<key>.reader-<pid>` (holding the pid's start time), registered under the lock: a
 * refresh waits for the readers before it replaces the base, a prune keeps a base being read.
 */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readDirOrEmpty } from "../host/fs.ts";
import { alive, sameProcess, startTime } from "../host/pid.ts";

export interface BaseMeta {
  key: string;
  source: string;
  tool: string;
  created: string;
  sizeBytes: number;
  /** what the fill could not keep, said again by every create from this base */
  note?: string;
}

export interface BaseInfo extends BaseMeta {
  dir: string;
}

export function basesDir(cache: string): string {
  return join(cache, "bases");
}

export function baseLockPath(cache: string, key: string): string {
  return join(basesDir(cache), `.${key}.lock`);
}

export function readBaseMeta(dir: string): BaseMeta | undefined {
  try {
    const m = JSON.parse(readFileSync(join(dir, "meta.json"), "utf8")) as Partial<BaseMeta>;
    if (typeof m.key !== "string") return undefined;
    return {
      key: m.key,
      source: String(m.source ?? ""),
      tool: String(m.tool ?? ""),
      created: String(m.created ?? ""),
      sizeBytes: Number(m.sizeBytes ?? 0),
      ...(typeof m.note === "string" && m.note !== "" ? { note: m.note } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Complete bases, sorted by key. */
export function listBases(cache: string): BaseInfo[] {
  const names = readDirOrEmpty(basesDir(cache));
  const out: BaseInfo[] = [];
  for (const name of names.filter((n) => !n.startsWith(".")).sort()) {
    const dir = join(basesDir(cache), name);
    const meta = readBaseMeta(dir);
    out.push({ ...(meta ?? { key: name, source: "", tool: "", created: "", sizeBytes: 0 }), key: name, dir });
  }
  return out;
}

/** Work directories (`.<key>.tmp-<pid>`, `.<key>.old-<pid>`) and an older cm's moved-aside locks (`.<key>.lock.stale-<pid>`) whose cm is gone. */
export function staleWork(cache: string, key?: string): string[] {
  const names = readDirOrEmpty(basesDir(cache));
  const out: string[] = [];
  for (const n of names) {
    const m = /^\.(.+?)(?:\.lock\.stale|\.tmp|\.old)-(\d+)$/.exec(n);
    if (!m || (key !== undefined && m[1] !== key)) continue;
    if (!alive(Number(m[2]))) out.push(join(basesDir(cache), n));
  }
  return out;
}

export function baseExists(dir: string): boolean {
  return existsSync(join(dir, "rootfs")) && existsSync(join(dir, "meta.json"));
}

function readerName(key: string, pid: number): string {
  return `.${key}.reader-${pid}`;
}

/** Registers this cm as a reader of base `key` (call it holding the base's lock); returns the release. */
export function addReader(cache: string, key: string): () => void {
  const path = join(basesDir(cache), readerName(key, process.pid));
  writeFileSync(path, String(startTime(process.pid) ?? ""), { mode: 0o644 });
  return () => {
    try {
      unlinkSync(path);
    } catch {
      // removed by a prune that found us gone: nothing to do
    }
  };
}

/** The pids of the live cm processes copying base `key`; markers of processes that are gone are removed. */
export function liveReaders(cache: string, key: string): number[] {
  const names = readDirOrEmpty(basesDir(cache));
  const prefix = `.${key}.reader-`;
  const out: number[] = [];
  for (const n of names) {
    if (!n.startsWith(prefix) || !/^\d+$/.test(n.slice(prefix.length))) continue;
    const pid = Number(n.slice(prefix.length));
    const path = join(basesDir(cache), n);
    let start: number | undefined;
    try {
      const text = readFileSync(path, "utf8").trim();
      start = text === "" ? undefined : Number(text);
    } catch {
      continue;
    }
    if (sameProcess(pid, start)) out.push(pid);
    else {
      try {
        unlinkSync(path);
      } catch {
        // another cm cleaned it first
      }
    }
  }
  return out;
}
