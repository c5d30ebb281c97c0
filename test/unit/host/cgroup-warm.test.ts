import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { ownCgroupProcs, warmCgroupMigration } from "../../../src/host/cgroup-warm.ts";

test("pure v2: the one 0:: line under /sys/fs/cgroup", () => {
  assert.equal(
    ownCgroupProcs("0::/user.slice/user-1000.slice/session-2.scope\n"),
    "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope/cgroup.procs",
  );
  assert.equal(ownCgroupProcs("0::/\n"), "/sys/fs/cgroup/cgroup.procs");
});

test("v1 and hybrid: the pids hierarchy, else the unified one under /sys/fs/cgroup/unified", () => {
  const hybrid = "9:name=systemd:/user.slice/s.scope\n8:pids:/user.slice/s.scope\n4:memory:/m\n0::/user.slice/s.scope\n";
  assert.equal(ownCgroupProcs(hybrid), "/sys/fs/cgroup/pids/user.slice/s.scope/cgroup.procs");
  assert.equal(ownCgroupProcs("4:memory:/m\n0::/u\n"), "/sys/fs/cgroup/unified/u/cgroup.procs");
  assert.equal(ownCgroupProcs("8:pids:/\n1:cpu:/\n"), "/sys/fs/cgroup/pids/cgroup.procs");
  assert.equal(ownCgroupProcs("4:memory:/m\n1:cpu:/\n"), undefined);
});

test("a path that is not absolute or climbs is not used", () => {
  assert.equal(ownCgroupProcs("0::/a/../b\n"), undefined);
  assert.equal(ownCgroupProcs("0::/a/./b\n"), undefined);
  assert.equal(ownCgroupProcs("0::a\n"), undefined);
  assert.equal(ownCgroupProcs(""), undefined);
});

/** A fake root with /proc/self/cgroup and the cgroup.procs it names (regular files). */
function fakeRoot(procs: string): { root: string; file: string } {
  const root = mkdtempSync(join(tmpdir(), "cm-warm-"));
  mkdirSync(join(root, "proc/self"), { recursive: true });
  writeFileSync(join(root, "proc/self/cgroup"), "0::/a.slice/b.scope\n");
  const dir = join(root, "sys/fs/cgroup/a.slice/b.scope");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cgroup.procs"), procs);
  return { root, file: join(dir, "cgroup.procs") };
}

const warm = (root: string, until?: () => boolean) => new Promise<number>((resolve) => warmCgroupMigration({ root, until, done: resolve }));

test("writes its pid back once when it is listed in its own cgroup.procs and nothing waits", async (t) => {
  const { root, file } = fakeRoot(`1\n${process.pid}\n77\n`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await warm(root), 1);
  assert.equal(readFileSync(file, "latin1"), `1\n${process.pid}\n77\n${process.pid}`);
});

test("stops writing when cm was moved meanwhile: it never moves itself back", async (t) => {
  const { root } = fakeRoot(`${process.pid}\n`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  let asked = 0;
  const until = () => {
    if (++asked === 2) writeFileSync(join(root, "proc/self/cgroup"), "0::/elsewhere.scope\n");
    return false;
  };
  assert.equal(await warm(root, until), 2);
});

test("keeps writing until the runtime has moved (until() holds)", async (t) => {
  const { root } = fakeRoot(`${process.pid}\n`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  let asked = 0;
  assert.equal(await warm(root, () => ++asked >= 4), 4);
});

test("never writes into a cgroup.procs that does not list its pid (another view of the hierarchy)", async (t) => {
  const { root, file } = fakeRoot(`1\n${process.pid}0\n2${process.pid}\n`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  assert.equal(await warm(root), 0);
  assert.equal(readFileSync(file, "latin1"), `1\n${process.pid}0\n2${process.pid}\n`);
});

test("nothing to do without a cgroup.procs or /proc/self/cgroup", async (t) => {
  const { root, file } = fakeRoot(`${process.pid}\n`);
  t.after(() => rmSync(root, { recursive: true, force: true }));
  rmSync(file);
  assert.equal(await warm(root), 0);
  assert.equal(await warm(join(root, "missing")), 0);
});
