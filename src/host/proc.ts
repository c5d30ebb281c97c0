/** Is a process alive? Cheap checks on /proc, for run records whose owner may be gone. */
import { readFileSync } from "node:fs";

/**
 * True when a process with this pid exists (also when it belongs to another user) and is not a
 * zombie: a container whose runtime was killed is reparented, and may stay a zombie for a while.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return true;
  }
}

/** The start time of a process (clock ticks after boot, /proc/PID/stat field 22), to tell a reused pid. */
export function startTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Alive and, when a start time was recorded, the same process (not a reused pid). */
export function sameProcess(pid: number, start: number | undefined): boolean {
  if (!alive(pid)) return false;
  if (start === undefined) return true;
  const now = startTime(pid);
  return now === undefined || now === start;
}
