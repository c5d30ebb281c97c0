/**
 * Exclusive locks between cm processes. A lock is a symbolic link whose target names its owner,
 * `<pid>:<start time>` (/proc/PID/stat field 22): symlink(2) creates it with its content in one
 * step, and fails with EEXIST when the lock is held, so there is no moment at which a lock exists
 * without an owner. Only the link itself is ever read (readlink), never followed.
 *
 * A lock whose owner is gone (killed with -9, crashed) is stale and is taken over; the start time
 * tells a reused pid from the owner. A taker moves the stale link aside (rename, atomic) and checks
 * that what it moved is the very link it judged stale (same inode); if another cm had taken a fresh
 * lock in between, it puts that one back (link(2): only where the path is still free).
 *
 * Locks of older cm versions were directories holding a `pid` file; they are still understood.
 */
import { linkSync, lstatSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isErrno } from "../errors.ts";
import { sameProcess, startTime } from "../host/pid.ts";

export interface Lock {
  release(): void;
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

/** A lock as found at its path: who owns it (pid -1 while unknown) and whether that owner is alive. */
interface Found {
  ino: number;
  pid: number;
  live: boolean;
}

function inspect(path: string): Found | undefined {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return undefined;
  }
  if (st.isSymbolicLink()) {
    let target = "";
    try {
      target = readlinkSync(path);
    } catch {
      return { ino: st.ino, pid: -1, live: true }; // changed under us: look again
    }
    const o = parseOwner(target);
    return { ino: st.ino, pid: o?.pid ?? -1, live: o !== undefined && sameProcess(o.pid, o.start) };
  }
  if (st.isDirectory()) {
    // an older cm's lock: its pid was written into the directory after mkdir (empty for a moment)
    let pid = Number.NaN;
    try {
      pid = Number(readFileSync(`${path}/pid`, "utf8"));
    } catch {
      // no pid yet
    }
    if (!Number.isInteger(pid) || pid <= 0) return { ino: st.ino, pid: -1, live: Date.now() - st.mtimeMs < 5000 };
    return { ino: st.ino, pid, live: sameProcess(pid, undefined) };
  }
  return { ino: st.ino, pid: -1, live: false }; // not a lock cm makes: cleared
}

/**
 * Returns the pid of the live owner (-1 when it cannot be told yet), or undefined when the lock is
 * free now (it was stale and this call removed it, or it is gone).
 */
function owner(path: string): number | undefined {
  const found = inspect(path);
  if (found === undefined) return undefined;
  if (found.live) return found.pid;
  return clearStale(path, found.ino);
}

/**
 * Removes the stale lock at `path` that had inode `ino` when it was judged stale; whatever else is
 * there now (a fresh lock another cm took meanwhile) stays. Returns as `owner` does.
 * Exported for its unit test.
 */
export function clearStale(path: string, ino: number): number | undefined {
  // Move it aside atomically so that only one taker wins, then remove it.
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return undefined; // someone else took it over first
  }
  let moved: number | undefined;
  try {
    moved = lstatSync(aside).ino;
  } catch {
    return undefined;
  }
  if (moved !== ino) {
    // Between our look and the rename another cm cleared the stale lock and took a fresh one: that
    // is what we moved. Put it back unless the path was taken meanwhile (then that one holds).
    try {
      linkSync(aside, path);
    } catch {
      // the path is taken: the one we moved is lost to its owner (a third cm in the same moment)
    }
    rmSync(aside, { recursive: true, force: true });
    return owner(path);
  }
  rmSync(aside, { recursive: true, force: true });
  return undefined;
}

/** Removes the lock at `path` if its owner is gone; true when it did (gc reports it). */
export function clearStaleLock(path: string): boolean {
  try {
    lstatSync(path);
  } catch {
    return false;
  }
  return owner(path) === undefined;
}

/**
 * Takes the lock at `path` (a path cm owns; its parent directory must exist), or names who holds
 * it: `heldBy` is the owner's pid, -1 when it cannot be told.
 */
export function tryLock(path: string): Lock | { heldBy: number } {
  const me = identity();
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      symlinkSync(me, path);
      return {
        // Only our own lock: if it was taken over meanwhile (we looked dead), it is not ours to remove.
        release: () => {
          try {
            if (readlinkSync(path) === me) unlinkSync(path);
          } catch {
            // gone already
          }
        },
      };
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
