/** Disk usage of a tree (allocated blocks, hard links counted once), as `du -s` reports it. */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";
import { capture, findTool } from "../host/tools.ts";

/**
 * `du -s -B1` itself: on a Debian minbase tree (8,700 files) it takes 20-60 ms where the walk
 * below takes 250-460 ms, a quarter of the 1 s budget of a warm `cm create` (bench/README.md).
 * The walk remains for a host without du or a du that prints no total.
 */
export async function treeSize(root: string): Promise<number> {
  const du = findTool("du");
  if (du) {
    // du exits 1 when it could not read part of the tree, and still prints the total it saw
    const r = capture(du, ["-s", "-B1", "--", root]);
    const total = /^(\d+)\s/.exec(r.stdout)?.[1];
    if (total !== undefined && Number.isSafeInteger(Number(total))) return Number(total);
  }
  return walkSize(root);
}

async function walkSize(root: string): Promise<number> {
  const seen = new Set<string>();
  let total = 0;
  async function walk(dir: string): Promise<void> {
    const names = await readdir(dir).catch(() => [] as string[]);
    await Promise.all(
      names.map(async (name) => {
        const p = join(dir, name);
        const st = await lstat(p).catch(() => undefined);
        if (!st) return;
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          if (seen.has(key)) return;
          seen.add(key);
        }
        total += st.blocks * 512;
        if (st.isDirectory()) await walk(p);
      }),
    );
  }
  await walk(root);
  return total;
}
