/**
 * Processes still using a tree that cm is about to remove:
 *   - rooted in it: a container (runc pivots into the rootfs in its own mount namespace, where a
 *     path means nothing to us, so the root is compared by device and inode, through
 *     /proc/PID/root);
 *   - working in it (cwd or an open file below it, in our mount namespace): e.g. the mmdebstrap,
 *     debootstrap or cp of a create that was killed (they outlive cm: mmdebstrap runs detached).
 * Only processes this user may inspect are seen, which are the only ones cm could have started.
 */
import { readdirSync, readlinkSync, statSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isWithin } from "../core/path.ts";
import { CmError } from "../errors.ts";
import { readDirOrEmpty } from "./fs.ts";

function pids(proc: string): string[] {
  return readDirOrEmpty(proc).filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid);
}

/** pids whose root directory is `rootfs` (same device and inode). */
export function processesRootedIn(rootfs: string, proc = "/proc"): number[] {
  let st: { dev: number; ino: number };
  try {
    st = statSync(rootfs);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const e of pids(proc)) {
    try {
      const r = statSync(`${proc}/${e}/root`);
      if (r.dev === st.dev && r.ino === st.ino) out.push(Number(e));
    } catch {
      // gone, or not ours to look at
    }
  }
  return out;
}

/** pids whose working directory or an open file is `dir` or below it (a tool may hold a directory fd, not a cwd). */
export function processesWorkingIn(dir: string, proc = "/proc"): number[] {
  const inside = (p: string) => isWithin(p, dir);
  const out: number[] = [];
  for (const e of pids(proc)) {
    try {
      if (inside(readlinkSync(`${proc}/${e}/cwd`))) {
        out.push(Number(e));
        continue;
      }
      for (const fd of readdirSync(`${proc}/${e}/fd`)) {
        let target: string;
        try {
          target = readlinkSync(`${proc}/${e}/fd/${fd}`);
        } catch {
          continue;
        }
        if (inside(target)) {
          out.push(Number(e));
          break;
        }
      }
    } catch {
      // gone, or not ours
    }
  }
  return out;
}

/**
 * SIGTERM to every process `find` returns, SIGKILL after `graceSeconds`; a CmError if one survives.
 */
export async function stopProcesses(find: () => number[], graceSeconds: number, where: string): Promise<void> {
  if (find().length === 0) return;
  const signalAll = (signal: NodeJS.Signals) => {
    for (const pid of find()) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  };
  const waitGone = async (ms: number) => {
    const end = Date.now() + ms;
    while (Date.now() < end && find().length > 0) await sleep(100);
  };
  if (graceSeconds > 0) {
    signalAll("SIGTERM");
    await waitGone(graceSeconds * 1000);
  }
  if (find().length > 0) {
    signalAll("SIGKILL");
    await waitGone(5000);
  }
  const left = find();
  if (left.length > 0) throw new CmError("busy-tree", `process ${left[0]} still uses ${where}`, { hint: `stop it (kill -9 ${left[0]})` });
}
