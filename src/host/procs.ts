/**
 * Processes whose root directory is inside a given tree: a container whose runc state is gone
 * still shows up here, so cm never removes a root filesystem that a live process uses.
 */
import { readdirSync, readlinkSync } from "node:fs";

export function processesRootedIn(dir: string, proc = "/proc"): number[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    let root: string;
    try {
      root = readlinkSync(`${proc}/${e}/root`);
    } catch {
      continue; // gone, or not ours to look at
    }
    if (root === dir || root.startsWith(prefix)) out.push(Number(e));
  }
  return out;
}
