/**
 * Exclusive locks between cm processes. A lock is a symbolic link whose target names its owner,
 * `<pid>:<start time>` (/proc/PID/stat field 22): symlink(2) creates it with its content in one
 * step, and fails with EEXIST when the lock is held, so there is no moment at which a lock exists
 * without an owner. Only the link itself is ever read (readlink), never followed.
 *
 * A lock whose owner is gone (killed with -9, crashed) is stale and is taken over; the start time
 * tells a reused pid from the owner. Taking over is serialised by a second lock of the same kind,
 * `<path>.takeover`: its holder looks again and removes the lock only if it is still the one judged
 * stale (the same target: a fresh lock of a live cm names another process). Only one cm at a time
 * can be between that look and the removal, so a fresh lock is never removed (comparing inodes
 * instead failed: ext4 gives a freed inode to the next link made in the directory). A takeover
 * lock whose holder died is cleared the same way, without a further lock (its holder's window is
 * microseconds).
 *
 * Locks of older cm versions were directories holding a `pid` file; they are still understood.
 */
import { lstatSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isErrno } from "../errors.ts";
import { sameProcess, startTime } from "../host/pid.ts";

export interface Lock {
  release(): void;
}

/** The suffix of the lock that serialises taking over a stale lock at the same path. */
export const TAKEOVER_SUFFIX = ".takeover";

/** Whether directory entry `name` is a lock or a takeover lock (what clearStaleLock takes). */
export function isLockName(name: string): boolean {
  return name.endsWith(".lock") || name.endsWith(`.lock${TAKEOVER_SUFFIX}`);
}

/**
 * `items` (directory entries, named by `nameOf`) with takeover locks first, for a pass of
 * clearStaleLock over a directory: a dead taker's lock keeps the stale lock it was clearing busy.
 */
export function takeoversFirst<T>(items: readonly T[], nameOf: (item: T) => string): T[] {
  const isTakeover = (item: T) => Number(nameOf(item).endsWith(TAKEOVER_SUFFIX));
  return [...items].sort((a, b) => isTakeover(b) - isTakeover(a));
}

let ownIdentity: string | undefined;

/** This process as a lock names it: `<pid>:<start time>`. */
function identity(): string {
  ownIdentity ??= `${process.pid}:${startTime(process.pid) ?? ""}`;
  return ownIdentity;
}

/** A lock's owner from its link target; undefined for anything else. */
export function parseOwner(target: string): { pid: number; start: number | undefined } | undefined {
  const m = /^([1-9][0-9]{0,9}):([0-9]{0,20})$/.exec(target);
  if (!m) return undefined;
  return { pid: Number(m[1]), start: m[2] === "" ? undefined : Number(m[2]) };
}

/**
 * A lock as found at its path: who owns it (pid -1 while unknown), whether that owner is alive, and
 * what identifies this very lock (a symlink's target; else its type and inode).
 */
interface Found {
  pid: number;
  live: boolean;
  key: string;
}

function inspect(path: string): Found | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) {
    let target: string;
    try {
      target = readlinkSync(path);
    } catch {
      return { pid: -1, live: true, key: "" }; // changed under us: look again
    }
    const o = parseOwner(target);
    return { pid: o?.pid ?? -1, live: o !== undefined && sameProcess(o.pid, o.start), key: `link:${target}` };
  }
  const key = `${st.isDirectory() ? "dir" : "other"}:${st.ino}:${st.mtimeMs}`;
  if (st.isDirectory()) {
    // an older cm's lock: its pid was written into the directory after mkdir (empty for a moment)
    let pid = Number.NaN;
    try {
      pid = Number(readFileSync(`${path}/pid`, "utf8"));
    } catch {
      // no pid yet
    }
    if (!Number.isInteger(pid) || pid <= 0) return { pid: -1, live: Date.now() - st.mtimeMs < 5000, key };
    return { pid, live: sameProcess(pid, undefined), key };
  }
  return { pid: -1, live: false, key }; // not a lock cm makes: cleared
}

/**
 * Returns the pid of the live owner (-1 when it cannot be told yet, or another cm is taking a
 * stale lock over right now), or undefined when the lock is free now (it was stale and this call
 * removed it, or it is gone).
 */
function owner(path: string): number | undefined {
  const found = inspect(path);
  if (found === undefined) return undefined;
  if (found.live) return found.pid;
  const took = takeOver(path, found.key);
  if (took === "busy") return -1;
  if (took === "removed") return undefined;
  // it changed meanwhile: a live owner now, or free to try again
  const now = inspect(path);
  return now?.live ? now.pid : undefined;
}

/**
 * Removes the stale lock at `path` identified by `key`, holding the takeover lock: "removed" (or
 * nothing was there), "changed" (it is another lock now: left alone), "busy" (another cm is taking
 * it over).
 */
function takeOver(path: string, key: string): "removed" | "changed" | "busy" {
  const takeover = `${path}${TAKEOVER_SUFFIX}`;
  try {
    symlinkSync(identity(), takeover);
  } catch (err) {
    if (!isErrno(err, "EEXIST")) throw err;
    // another cm is taking it over; if that one died doing so, its takeover lock goes first
    const t = inspect(takeover);
    if (t && !t.live) removeIfStill(takeover, t.key);
    return "busy";
  }
  try {
    return removeIfStill(path, key) ? "removed" : "changed";
  } finally {
    releaseIfMine(takeover, identity());
  }
}

/**
 * Removes what is at `path` if it is still the lock identified by `key` (as inspect() names it).
 * True when it did, or nothing is there. Exported for its unit test.
 */
export function removeIfStill(path: string, key: string): boolean {
  const now = inspect(path);
  if (now === undefined) return true;
  if (now.key !== key || now.live) return false;
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    return false;
  }
  return true;
}

function releaseIfMine(path: string, me: string): void {
  try {
    if (readlinkSync(path) === me) unlinkSync(path);
  } catch {
    // gone already
  }
}

/**
 * Removes the lock at `path` if its owner is gone; true when it did (gc reports it). Also for a
 * takeover lock (`<lock>.takeover`) whose holder died.
 */
export function clearStaleLock(path: string): boolean {
  const found = inspect(path);
  if (found === undefined || found.live) return false;
  if (path.endsWith(TAKEOVER_SUFFIX)) return removeIfStill(path, found.key);
  return takeOver(path, found.key) === "removed";
}

/**
 * Takes the lock at `path` (a path cm owns; its parent directory must exist), or names who holds
 * it: `heldBy` is the owner's pid, -1 when it cannot be told (see `holder`).
 */
export function tryLock(path: string): Lock | { heldBy: number } {
  const me = identity();
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      symlinkSync(me, path);
      // Only our own lock: a lock is removed by its owner, or by a taker that found it stale.
      return { release: () => releaseIfMine(path, me) };
    } catch (err) {
      if (!isErrno(err, "EEXIST")) throw err;
      const pid = owner(path);
      if (pid !== undefined) return { heldBy: pid };
    }
  }
  return { heldBy: -1 };
}

/** Waits until the lock is free (used where the other holder's work is what we need, e.g. a cache fill). */
export async function waitLock(path: string, onWait?: (pid: number) => void): Promise<Lock> {
  let told = false;
  for (;;) {
    const l = tryLock(path);
    if ("release" in l) return l;
    if (!told) {
      onWait?.(l.heldBy);
      told = true;
    }
    await sleep(100);
  }
}
