/**
 * The base cache: <cache>/bases/<key>/{rootfs/,meta.json}, one per suite, architecture and package
 * set. A base directory exists only when complete: it is filled as `.<key>.tmp-<pid>` under the
 * lock `.<key>.lock` and renamed into place. Dot-names are work in progress (or left by a killed
 * cm: a later fill or `cm cache prune` removes those whose pid is gone).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isErrno } from "../errors.ts";

export interface BaseMeta {
  key: string;
  source: string;
  tool: string;
  created: string;
  sizeBytes: number;
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
    };
  } catch {
    return undefined;
  }
}

/** Complete bases, sorted by key. */
export function listBases(cache: string): BaseInfo[] {
  let names: string[];
  try {
    names = readdirSync(basesDir(cache));
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
  const out: BaseInfo[] = [];
  for (const name of names.filter((n) => !n.startsWith(".")).sort()) {
    const dir = join(basesDir(cache), name);
    const meta = readBaseMeta(dir);
    out.push({ ...(meta ?? { key: name, source: "", tool: "", created: "", sizeBytes: 0 }), key: name, dir });
  }
  return out;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, "EPERM");
  }
}

/** Work directories (`.<key>.tmp-<pid>`, `.<key>.old-<pid>`) whose cm is gone. */
export function staleWork(cache: string, key?: string): string[] {
  let names: string[];
  try {
    names = readdirSync(basesDir(cache));
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names) {
    const m = /^\.(.+)\.(tmp|old)-(\d+)$/.exec(n);
    if (!m || (key !== undefined && m[1] !== key)) continue;
    if (!pidAlive(Number(m[3]))) out.push(join(basesDir(cache), n));
  }
  return out;
}

export function baseExists(dir: string): boolean {
  return existsSync(join(dir, "rootfs")) && existsSync(join(dir, "meta.json"));
}
