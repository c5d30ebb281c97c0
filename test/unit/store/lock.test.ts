import assert from "node:assert/strict";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { startTime } from "../../../src/host/pid.ts";
import { clearStaleLock, parseOwner, removeIfStill, TAKEOVER_SUFFIX, tryLock } from "../../../src/store/lock.ts";

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

test("clearing a stale lock leaves a fresh lock that another cm took meanwhile in place, even in the same inode", (t) => {
  const dir = scratch(t);
  const path = join(dir, "c.lock");
  symlinkSync("999999:1", path);
  const staleIno = lstatSync(path).ino;
  // ... judged stale; before its removal, another cm clears it and takes it. ext4 gives the freed
  // inode to the next link made in the directory: the inode cannot tell the two apart
  unlinkSync(path);
  const fresh = tryLock(path);
  assert.ok("release" in fresh);
  const sameInode = lstatSync(path).ino === staleIno;
  assert.equal(removeIfStill(path, "link:999999:1"), false, `the live lock is not removed (same inode: ${sameInode})`);
  assert.equal(readlinkSync(path), me);
  assert.deepEqual(tryLock(path), { heldBy: process.pid });
  fresh.release();
  assert.equal(removeIfStill(path, "link:999999:1"), true, "nothing there: free");
});

test("while another live cm takes a stale lock over, the lock is busy and left to it", (t) => {
  const dir = scratch(t);
  const path = join(dir, "t.lock");
  symlinkSync("999999:1", path);
  symlinkSync(`${process.ppid}:${startTime(process.ppid)}`, `${path}${TAKEOVER_SUFFIX}`); // a live taker
  assert.deepEqual(tryLock(path), { heldBy: -1 });
  assert.equal(readlinkSync(path), "999999:1", "not removed by a second taker");
  assert.equal(clearStaleLock(`${path}${TAKEOVER_SUFFIX}`), false, "a live taker's takeover lock stays");
});

test("a takeover lock whose holder died is cleared, and the stale lock is then taken over", (t) => {
  const dir = scratch(t);
  const path = join(dir, "k.lock");
  symlinkSync("999999:1", path);
  symlinkSync("999998:1", `${path}${TAKEOVER_SUFFIX}`); // its taker died mid-takeover
  assert.deepEqual(tryLock(path), { heldBy: -1 }, "busy for a moment");
  assert.equal(lstatSync(`${path}${TAKEOVER_SUFFIX}`, { throwIfNoEntry: false }), undefined, "the dead taker's lock is gone");
  const l = tryLock(path);
  assert.ok("release" in l);
  l.release();
  assert.deepEqual(readdirSync(dir), [], "no takeover lock or anything else left");
  // gc's way: a dead taker's lock alone
  symlinkSync("999998:1", `${path}${TAKEOVER_SUFFIX}`);
  assert.equal(clearStaleLock(`${path}${TAKEOVER_SUFFIX}`), true);
  assert.deepEqual(readdirSync(dir), []);
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

test("six processes contending for one lock whose holders keep dying: never two holders at once", { timeout: 60_000 }, async (t) => {
  const dir = scratch(t);
  const path = join(dir, "s.lock");
  const marker = join(dir, "held");
  const lockModule = new URL("../../../src/store/lock.ts", import.meta.url).href;
  // Each child, for 1.5 s: take the lock; while holding it, own a marker made with O_EXCL (a second
  // holder finds it there); then release, or die holding it (its lock left naming a dead process).
  const child = `
    import { openSync, closeSync, unlinkSync, symlinkSync, readlinkSync } from "node:fs";
    const { tryLock } = await import(${JSON.stringify(lockModule)});
    let clashes = 0, held = 0;
    const end = Date.now() + 1500;
    while (Date.now() < end) {
      const l = tryLock(${JSON.stringify(path)});
      if (!("release" in l)) continue;
      held++;
      try { closeSync(openSync(${JSON.stringify(marker)}, "wx")); } catch { clashes++; continue; }
      for (let i = 0; i < 2000; i++) Math.sqrt(i);
      unlinkSync(${JSON.stringify(marker)});
      if (Math.random() < 0.3) {
        // dies holding it: its lock now names a process that is gone
        unlinkSync(${JSON.stringify(path)});
        try { symlinkSync("999999:" + Math.floor(Math.random() * 1e9), ${JSON.stringify(path)}); } catch {}
      } else l.release();
    }
    process.stdout.write(JSON.stringify({ clashes, held }));
  `;
  const { spawn } = await import("node:child_process");
  const runs = Array.from({ length: 6 }, () => {
    const c = spawn(process.execPath, ["--input-type=module", "-e", child], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    c.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    return new Promise<{ clashes: number; held: number }>((resolve) =>
      c.on("close", () => resolve(JSON.parse(out || '{"clashes":-1,"held":0}'))),
    );
  });
  const results = await Promise.all(runs);
  assert.deepEqual(
    results.map((r) => r.clashes),
    [0, 0, 0, 0, 0, 0],
    JSON.stringify(results),
  );
  assert.ok(results.reduce((n, r) => n + r.held, 0) > 20, `the lock changed hands: ${JSON.stringify(results)}`);
});
