/** Disk usage of a tree (allocated blocks, hard links counted once), as `du -s` reports it. */
import { lstat, readdir } from "node:fs/promises";
import { join } from "node:path";

export async function treeSize(root: string): Promise<number> {
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
