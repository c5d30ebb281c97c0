import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseBusPath,
  parseCgroupHybrid,
  parseCgroupVersion,
  parseControllers,
  parseOwnCgroup,
  userManagerCgroup,
} from "../../../src/host/cgroups.ts";

const hybrid = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw`;
const unified = `25 23 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot`;

test("hybrid (v1 controllers, empty cgroup2 at unified) is v1", () => {
  assert.equal(parseCgroupVersion(hybrid), "v1");
});
test("cgroup2 on /sys/fs/cgroup is v2", () => {
  assert.equal(parseCgroupVersion(unified), "v2");
});
test("no cgroup mounts at all reads as v1 (nothing can be enforced rootless)", () => {
  assert.equal(parseCgroupVersion(""), "v1");
});
test("own cgroup from /proc/self/cgroup", () => {
  assert.equal(parseOwnCgroup("0::/user.slice/user-1000.slice/session-1.scope\n"), "/user.slice/user-1000.slice/session-1.scope");
  assert.equal(parseOwnCgroup("4:memory:/x\n0::/\n"), "/");
  assert.equal(parseOwnCgroup("4:memory:/x\n"), undefined);
});

const hybrid2 = `35 24 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
41 35 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
42 35 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory`;
const v2 = "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:9 - cgroup2 cgroup2 rw";
const pureV1 = "42 35 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory";

test("the hybrid layout: v1 with a cgroup2 at /sys/fs/cgroup/unified", () => {
  assert.equal(parseCgroupVersion(hybrid2), "v1");
  assert.equal(parseCgroupHybrid(hybrid2), true);
  assert.equal(parseCgroupHybrid(v2), false);
  assert.equal(parseCgroupHybrid(pureV1), false);
});

test("the user's bus from DBUS_SESSION_BUS_ADDRESS: unix paths only", () => {
  assert.equal(parseBusPath("unix:path=/run/user/1000/bus"), "/run/user/1000/bus");
  assert.equal(parseBusPath("unix:path=/run/user/1000/bus,guid=abc"), "/run/user/1000/bus");
  assert.equal(parseBusPath("tcp:host=x,port=1;unix:path=/tmp/b"), "/tmp/b");
  assert.equal(parseBusPath("unix:abstract=/tmp/dbus-x"), undefined);
  assert.equal(parseBusPath(undefined), undefined);
});

test("systemd's user manager cgroup, and controller lists", () => {
  assert.equal(userManagerCgroup(1000), "/user.slice/user-1000.slice/user@1000.service");
  assert.deepEqual(parseControllers("cpu memory pids\n"), ["cpu", "memory", "pids"]);
  assert.deepEqual(parseControllers("\n"), []);
});
