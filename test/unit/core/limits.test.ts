import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cgroupDriver,
  checkLimitEnforceable,
  DELEGATE_DROPIN,
  scopeName,
  systemdCgroupsPath,
  systemdScopeParent,
} from "../../../src/core/limits.ts";
import { CmError } from "../../../src/errors.ts";
import type { CgroupFacts } from "../../../src/host/cgroups.ts";

const manager = "/user.slice/user-1000.slice/user@1000.service";
/** Debian 12 after a login: systemd 252 delegates cpu, memory and pids to user@.service. */
const desktop: CgroupFacts = {
  version: "v2",
  ownCgroup: "/user.slice/user-1000.slice/session-2.scope",
  delegated: [],
  systemd: true,
  userManager: { path: manager, controllers: ["cpu", "memory", "pids"] },
  bus: "/run/user/1000/bus",
};

test("root: limits are always enforceable", () => {
  checkLimitEnforceable("memory", false, { version: "v1", delegated: [] });
  checkLimitEnforceable("cpu", false, { ...desktop, userManager: undefined, bus: undefined });
});

test("rootless on cgroup v1: refused, saying why and what would help", () => {
  assert.throws(
    () => checkLimitEnforceable("memory", true, { version: "v1", delegated: [] }),
    (e: unknown) => e instanceof CmError && /--memory.*cgroup v1/.test(e.message) && /cgroup v2|root/.test(e.hint ?? ""),
  );
});

test("rootless on systemd + cgroup v2: only controllers delegated to the user's manager", () => {
  for (const l of ["memory", "cpu", "pids"] as const) checkLimitEnforceable(l, true, desktop);
  const noCpu = { ...desktop, userManager: { path: manager, controllers: ["memory", "pids"] } };
  checkLimitEnforceable("memory", true, noCpu);
  assert.throws(
    () => checkLimitEnforceable("cpu", true, noCpu),
    (e: unknown) =>
      e instanceof CmError &&
      /^--cpus cannot be enforced .*the cpu controller is not delegated to your user \(.*user@1000\.service has: memory pids\)$/.test(
        e.message,
      ) &&
      (e.hint ?? "").includes(DELEGATE_DROPIN) &&
      (e.hint ?? "").includes("Delegate=cpu cpuset io memory pids") &&
      (e.hint ?? "").includes("systemctl daemon-reload"),
  );
  assert.throws(
    () => checkLimitEnforceable("pids", true, { ...desktop, userManager: { path: manager, controllers: [] } }),
    /--pids-limit.*has: none/,
  );
});

test("rootless: no user manager, no bus, no systemd: refused with the reason", () => {
  assert.throws(() => checkLimitEnforceable("memory", true, { ...desktop, userManager: undefined }), /user@UID\.service\) is not running/);
  assert.throws(
    () => checkLimitEnforceable("memory", true, { ...desktop, bus: undefined }),
    (e: unknown) => e instanceof CmError && /D-Bus is not reachable/.test(e.message) && /dbus-user-session/.test(e.hint ?? ""),
  );
  assert.throws(() => checkLimitEnforceable("memory", true, { ...desktop, systemd: false }), /without systemd/);
});

test("the systemd driver only for limits on systemd + cgroup v2; cgroupfs otherwise", () => {
  assert.equal(cgroupDriver(desktop, true, true), "systemd");
  assert.equal(cgroupDriver(desktop, true, false), "cgroupfs", "no limit, no scope");
  assert.equal(cgroupDriver(desktop, false, true), "systemd");
  assert.equal(cgroupDriver({ ...desktop, bus: undefined }, false, true), "cgroupfs", "root without a system bus");
  assert.equal(cgroupDriver({ version: "v1", hybrid: true, delegated: [] }, false, true), "cgroupfs");
  assert.equal(cgroupDriver({ ...desktop, systemd: false }, false, true), "cgroupfs");
});

test("scopes: user.slice rootless, system.slice as root, named cm-<id>.scope", () => {
  assert.equal(systemdCgroupsPath(true, "0123456789ab"), "user.slice:cm:0123456789ab");
  assert.equal(systemdCgroupsPath(false, "0123456789ab"), "system.slice:cm:0123456789ab");
  assert.equal(scopeName("0123456789ab"), "cm-0123456789ab.scope");
});

test("the slice a systemd scope lives in, from its cgroupsPath", () => {
  assert.equal(systemdScopeParent("user.slice:cm:0123456789ab", 1000), "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service");
  assert.equal(systemdScopeParent("system.slice:cm:0123456789ab", 0), "/sys/fs/cgroup/system.slice");
  assert.equal(systemdScopeParent(undefined, 0), undefined);
  assert.equal(systemdScopeParent("/cm/0123456789ab", 0), undefined, "cgroupfs paths");
  assert.equal(systemdScopeParent("user.slice:cm:../../x", 1000), undefined);
});
