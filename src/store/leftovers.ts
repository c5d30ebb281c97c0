import { join } from "node:path";
import { readDirOrEmpty } from "../host/fs.ts";
import { alive } from "../host/pid.ts";
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
    for (const n of readDirOrEmpty(projectDir(data, k)).sort()) {
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
