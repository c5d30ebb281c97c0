/**
 * Work left behind by a cm that was killed or failed half-way: `.<bundle>.creating-<pid>` (a create
 * that never reached its rename) and `.<bundle>.deleting-<pid>` (a bundle renamed away by delete or
 * by create --force, not yet removed). Neither is ever taken for a bundle. A leftover whose pid is
 * gone is stale: the next create or delete of that bundle removes it, and cm list reports it.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { isErrno } from "../errors.ts";
import { alive } from "../host/proc.ts";
import { projectDir, projectKeys } from "./bundles.ts";

export interface Leftover {
  projectKey: string;
  bundle: string;
  kind: "creating" | "deleting";
  pid: number;
  dir: string;
  /** its owner is still running: work in progress, not a leftover yet */
  live: boolean;
}

const NAME = /^\.(.+)\.(creating|deleting)-(\d+)$/;

export function leftovers(data: string, key?: string): Leftover[] {
  const out: Leftover[] = [];
  for (const k of key === undefined ? projectKeys(data) : [key]) {
    let names: string[];
    try {
      names = readdirSync(projectDir(data, k));
    } catch (err) {
      if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) continue;
      throw err;
    }
    for (const n of names.sort()) {
      const m = NAME.exec(n);
      if (!m) continue;
      const pid = Number(m[3]);
      out.push({
        projectKey: k,
        bundle: m[1] as string,
        kind: m[2] as "creating" | "deleting",
        pid,
        dir: join(projectDir(data, k), n),
        live: pid !== process.pid && alive(pid),
      });
    }
  }
  return out;
}
