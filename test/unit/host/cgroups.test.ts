import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCgroupHybrid, parseCgroupVersion } from "../../../src/host/cgroups.ts";

const hybrid = `35 24 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
41 35 0:38 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw
42 35 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory`;
const v2 = "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:9 - cgroup2 cgroup2 rw";
const pureV1 = "42 35 0:39 / /sys/fs/cgroup/memory rw,relatime shared:11 - cgroup cgroup rw,memory";

test("the hybrid layout: v1 with a cgroup2 at /sys/fs/cgroup/unified", () => {
  assert.equal(parseCgroupVersion(hybrid), "v1");
  assert.equal(parseCgroupHybrid(hybrid), true);
  assert.equal(parseCgroupHybrid(v2), false);
  assert.equal(parseCgroupHybrid(pureV1), false);
});
