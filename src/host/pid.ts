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

/** Clock ticks per second of /proc/PID/stat's start time (USER_HZ: 100 on every Linux architecture cm runs on). */
const USER_HZ = 100;

/**
 * Whether process `pid` (alive, not a zombie) was started no later than `wallMs` (milliseconds since
 * the epoch, plus `slackMs` for the 10 ms ticks and clock adjustments). A pid file written by a
 * runtime names a process that existed when it was written; a process started after that time has
 * only been given the same pid (the container died, the machine rebooted), and is not it. The
 * start time is boot-relative: it is placed on the wall clock through /proc/uptime.
 */
export function startedBy(pid: number, wallMs: number, slackMs = 1000): boolean {
  if (!alive(pid)) return false;
  const ticks = startTime(pid);
  if (ticks === undefined) return true; // cannot tell: do not declare a live process dead
  let uptime: number;
  try {
    uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  } catch {
    return true;
  }
  const bootMs = Date.now() - uptime * 1000;
  return bootMs + (ticks / USER_HZ) * 1000 <= wallMs + slackMs;
}
