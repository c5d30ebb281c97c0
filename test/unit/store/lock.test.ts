import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startTime } from "../../../src/host/pid.ts";
import { clearStale, parseOwner, tryLock } from "../../../src/store/lock.ts";

function scratch(t: { after: (f: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), "cm-lock-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const me = `${process.pid}:${startTime(process.pid)}`;

test("a lock is a symlink naming its owner's pid and start time, created whole", (t) => {
  const path = join(scratch(t), "a.lock");
  const l = tryLock(path);
  assert.ok("release" in l);
  assert.equal(readlinkSync(path), me);
  assert.deepEqual(parseOwner(readlinkSync(path)), { pid: process.pid, start: startTime(process.pid) });
  l.release();
  assert.equal(lstatSync(path, { throwIfNoEntry: false }), undefined);
});

test("a lock is taken once: a second taker sees its holder", (t) => {
  const path = join(scratch(t), "y.lock");
  const first = tryLock(path);
  assert.ok("release" in first);
  assert.deepEqual(tryLock(path), { heldBy: process.pid });
  first.release();
  const again = tryLock(path);
  assert.ok("release" in again);
  again.release();
});

test("a lock of a dead owner is taken over", (t) => {
  const path = join(scratch(t), "d.lock");
  symlinkSync("999999:1", path); // not running: above this host's pid_max, and no process started at tick 1
  const l = tryLock(path);
  assert.ok("release" in l);
  assert.equal(readlinkSync(path), me);
  l.release();
});

test("a lock whose pid was reused by another process (another start time) is taken over", (t) => {
  const path = join(scratch(t), "r.lock");
  // this very pid, but started at another time: the owner died and the pid went to us
  symlinkSync(`${process.pid}:${(startTime(process.pid) ?? 0) + 12345}`, path);
  const l = tryLock(path);
  assert.ok("release" in l, "a reused pid does not keep a dead owner's lock held");
  l.release();
});

test("what is not a lock's name at the lock path is cleared; an unknown name does not hold it", (t) => {
  const dir = scratch(t);
  for (const target of ["", "x", "12", "-1:2", "0:1", "1:2:3", "../../etc", `${process.pid}:abc`]) {
    const path = join(dir, "g.lock");
    rmSync(path, { force: true });
    if (target === "") writeFileSync(path, "");
    else symlinkSync(target, path);
    const l = tryLock(path);
    assert.ok("release" in l, JSON.stringify(target));
    l.release();
  }
});

test("an older cm's directory lock: held while its owner lives, or for a moment while its pid is unwritten", (t) => {
  const dir = scratch(t);
  const path = join(dir, "x.lock");
  mkdirSync(path);
  writeFileSync(join(path, "pid"), "");
  assert.deepEqual(tryLock(path), { heldBy: -1 });
  writeFileSync(join(path, "pid"), String(process.pid));
  assert.deepEqual(tryLock(path), { heldBy: process.pid });
  writeFileSync(join(path, "pid"), "");
  // long after (its owner died before writing it): stale, taken over
  const old = new Date(Date.now() - 60_000);
  utimesSync(path, old, old);
  const l = tryLock(path);
  assert.ok("release" in l);
  assert.equal(readlinkSync(path), me);
  l.release();
  mkdirSync(path);
  writeFileSync(join(path, "pid"), "999999");
  const l2 = tryLock(path);
  assert.ok("release" in l2, "a dead owner's directory lock is taken over");
  l2.release();
});

test("clearing a stale lock leaves a fresh lock that another cm took meanwhile in place", (t) => {
  const dir = scratch(t);
  const path = join(dir, "c.lock");
  symlinkSync("999999:1", path);
  const staleIno = lstatSync(path).ino;
  // ... judged stale (inode staleIno); before the move, another cm clears it and takes it:
  unlinkSync(path);
  writeFileSync(join(dir, "keep-inode-busy"), ""); // the stale inode number is not reused at once
  const fresh = tryLock(path);
  assert.ok("release" in fresh);
  assert.notEqual(lstatSync(path).ino, staleIno);
  assert.equal(clearStale(path, staleIno), process.pid, "the live lock is seen, not removed");
  assert.equal(readlinkSync(path), me);
  assert.deepEqual(tryLock(path), { heldBy: process.pid });
  fresh.release();
  assert.equal(clearStale(path, staleIno), undefined, "nothing there: free");
});

test("releasing a lock that was taken over (its owner looked dead) leaves the new owner's lock", (t) => {
  const path = join(scratch(t), "o.lock");
  const l = tryLock(path);
  assert.ok("release" in l);
  unlinkSync(path);
  symlinkSync("1:1", path); // another owner's
  l.release();
  assert.equal(readlinkSync(path), "1:1");
});
