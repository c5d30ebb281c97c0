/**
 * Exclusive locks between cm processes: a lock is a directory created with mkdir (atomic), holding
 * the owner's pid. A lock whose owner is gone (killed with -9, crashed) is stale and is taken over.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { isErrno } from "../errors.ts";
import { alive } from "../host/pid.ts";

export interface Lock {
  release(): void;
}

/** Returns the pid of the live owner, or undefined after clearing a stale lock. */
function owner(path: string): number | undefined {
  let pid = Number.NaN;
  try {
    pid = Number(readFileSync(`${path}/pid`, "utf8"));
  } catch {
    // no pid file: handled below with an unreadable one
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    // Just created by its owner and the pid not written yet (or written by an older cm, which
    // wrote it in place: an empty file for a moment): live for a moment, stale after that.
    try {
      if (Date.now() - statSync(path).mtimeMs < 5000) return -1;
    } catch {
      return undefined;
    }
  }
  if (Number.isInteger(pid) && pid > 0 && alive(pid)) return pid;
  // Stale: move it aside atomically so that only one taker wins, then remove it.
  const aside = `${path}.stale-${process.pid}`;
  try {
    renameSync(path, aside);
    rmSync(aside, { recursive: true, force: true });
  } catch {
    // someone else took it over first
  }
  return undefined;
}

/** Removes the lock at `path` if its owner is gone; true when it did (gc reports it). */
export function clearStaleLock(path: string): boolean {
  try {
    statSync(path);
  } catch {
    return false;
  }
  return owner(path) === undefined;
}

export function tryLock(path: string): Lock | { heldBy: number } {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      mkdirSync(path, { mode: 0o700 });
      // whole or absent: a pid file read while half written (empty) looked like a dead owner,
      // and a second cm took the lock over (two base bootstraps at once in CI)
      writeFileSync(`${path}/pid.new`, String(process.pid));
      renameSync(`${path}/pid.new`, `${path}/pid`);
      return {
        // Only our own lock: if it was taken over meanwhile (we looked dead), it is not ours to remove.
        release: () => {
          try {
            if (Number(readFileSync(`${path}/pid`, "utf8")) !== process.pid) return;
          } catch {
            return;
          }
          rmSync(path, { recursive: true, force: true });
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
