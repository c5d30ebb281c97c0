import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { tryLock } from "../../../src/store/lock.ts";

test("a lock whose pid file is still empty (its owner is writing it) is held, not taken over as stale", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cm-lock-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "x.lock");
  mkdirSync(path);
  writeFileSync(join(path, "pid"), "");
  assert.deepEqual(tryLock(path), { heldBy: -1 });
  // long after (its owner died before writing it): stale, taken over
  const old = new Date(Date.now() - 60_000);
  utimesSync(path, old, old);
  const l = tryLock(path);
  assert.ok("release" in l);
  assert.equal(readFileSync(join(path, "pid"), "utf8"), String(process.pid));
  l.release();
});

test("a lock is taken once: a second taker sees its holder", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "cm-lock-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, "y.lock");
  const first = tryLock(path);
  assert.ok("release" in first);
  assert.deepEqual(tryLock(path), { heldBy: process.pid });
  first.release();
  const again = tryLock(path);
  assert.ok("release" in again);
  again.release();
});
