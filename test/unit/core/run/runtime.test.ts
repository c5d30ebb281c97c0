import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  checkRuntimeArg,
  checkRuntimeLimits,
  checkRuntimeUsable,
  execInUserScope,
  runtimeFlags,
  runtimeKind,
  runtimeRootName,
} from "../../../../src/core/run/runtime.ts";
import { CmError } from "../../../../src/errors.ts";

describe("runtimes", () => {
  test("names and absolute paths are accepted; relative paths and odd names are not", () => {
    assert.equal(checkRuntimeArg("runsc"), "runsc");
    assert.equal(checkRuntimeArg("/opt/bin/runc"), "/opt/bin/runc");
    for (const t of ["./runc", "bin/runc", "", "-x", "a b", "../x"]) assert.throws(() => checkRuntimeArg(t), CmError, t);
  });
  test("kind and state root come from the file name", () => {
    assert.equal(runtimeKind("/usr/sbin/runc"), "runc");
    assert.equal(runtimeKind("/usr/bin/runsc"), "runsc");
    assert.equal(runtimeKind("/usr/bin/crun"), "crun");
    assert.equal(runtimeKind("/opt/youki"), "other");
    assert.equal(runtimeRootName("/usr/sbin/runc"), "runc");
    assert.equal(runtimeRootName("/usr/bin/runsc"), "runtime-runsc");
  });
  test("runsc gets its network and, rootless, --rootless --ignore-cgroups; others nothing", () => {
    assert.deepEqual(runtimeFlags("runsc", { rootless: false, cgroupHybrid: true }, "host"), ["--network=host"]);
    assert.deepEqual(runtimeFlags("runsc", { rootless: true, cgroupHybrid: true }, "none"), [
      "--network=none",
      "--rootless",
      "--ignore-cgroups",
    ]);
    assert.deepEqual(runtimeFlags("runc", { rootless: true, cgroupHybrid: true }, "none"), []);
    assert.deepEqual(runtimeFlags("crun", { rootless: false, cgroupHybrid: false }, "host"), []);
  });
  test("the systemd cgroup driver: --systemd-cgroup for runc, crun and others; never for runsc", () => {
    const host = { rootless: true, cgroupHybrid: false, cgroupDriver: "systemd" as const };
    assert.deepEqual(runtimeFlags("runc", host, "host"), ["--systemd-cgroup"]);
    assert.deepEqual(runtimeFlags("crun", host, "host"), ["--systemd-cgroup"]);
    assert.deepEqual(runtimeFlags("other", host, "host"), ["--systemd-cgroup"]);
    assert.deepEqual(runtimeFlags("runc", { ...host, cgroupDriver: "cgroupfs" }, "host"), []);
    assert.doesNotMatch(runtimeFlags("runsc", host, "host").join(" "), /systemd/);
  });
  test("crun is refused on a cgroup v1 hybrid host only", () => {
    assert.throws(() => checkRuntimeUsable("crun", "/usr/bin/crun", { rootless: false, cgroupHybrid: true }), /hybrid/);
    checkRuntimeUsable("crun", "/usr/bin/crun", { rootless: false, cgroupHybrid: false });
    checkRuntimeUsable("runc", "/usr/sbin/runc", { rootless: true, cgroupHybrid: true });
  });
  test("runsc refuses --pids-limit (its own threads count); runc takes it", () => {
    assert.throws(() => checkRuntimeLimits("runsc", { pids: true }), /--pids-limit cannot be enforced with runsc/);
    checkRuntimeLimits("runsc", { pids: false });
    checkRuntimeLimits("runc", { pids: true });
  });
  test("crun exec goes through a user scope only rootless with the systemd driver", () => {
    assert.equal(execInUserScope("crun", true, ["--systemd-cgroup"]), true);
    assert.equal(execInUserScope("crun", false, ["--systemd-cgroup"]), false);
    assert.equal(execInUserScope("crun", true, []), false);
    assert.equal(execInUserScope("runc", true, ["--systemd-cgroup"]), false);
  });
  test("rootless runsc (--ignore-cgroups) refuses every limit rather than dropping it", () => {
    assert.throws(
      () => checkRuntimeLimits("runsc", { pids: false, any: true, rootless: true }),
      /limits cannot be enforced with runsc rootless/,
    );
    checkRuntimeLimits("runsc", { pids: false, any: true, rootless: false });
    checkRuntimeLimits("runc", { pids: true, any: true, rootless: true });
  });
});
