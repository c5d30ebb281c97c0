import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { baseSpec } from "../../../../src/core/runtime-spec/base.ts";
import {
  cgroupNamespace,
  hardening,
  MASKED_PATHS,
  maskedPaths,
  READONLY_PATHS,
  seccomp,
} from "../../../../src/core/runtime-spec/hardening.ts";
import { type BundleSpecInput, bundleSpec } from "../../../../src/core/runtime-spec/index.ts";
import { defaultSeccomp } from "../../../../src/core/runtime-spec/seccomp.ts";
import { validateOciConfig } from "../../../helpers/oci-schema.ts";
import { bundleInput } from "../../../helpers/runtime-spec.ts";

const input: BundleSpecInput = bundleInput(false);

describe("hardening transforms", () => {
  test("masked paths: the engines' list (superset of runc's), read-only /proc parts", () => {
    const spec = maskedPaths()(baseSpec(true));
    for (const p of baseSpec(true).linux.maskedPaths) assert.ok(spec.linux.maskedPaths.includes(p), `runc's ${p} kept`);
    for (const p of [
      "/proc/kcore",
      "/proc/keys",
      "/proc/timer_list",
      "/sys/firmware",
      "/sys/devices/virtual/powercap",
      "/proc/interrupts",
    ]) {
      assert.ok(spec.linux.maskedPaths.includes(p), p);
    }
    assert.deepEqual(spec.linux.readonlyPaths, READONLY_PATHS);
    assert.ok(READONLY_PATHS.includes("/proc/sys") && READONLY_PATHS.includes("/proc/sysrq-trigger"));
    assert.equal(new Set(MASKED_PATHS).size, MASKED_PATHS.length);
  });

  test("cgroup namespace added once", () => {
    const spec = cgroupNamespace()(cgroupNamespace()(baseSpec(false)));
    assert.equal(spec.linux.namespaces.filter((n) => n.type === "cgroup").length, 1);
  });

  test("seccomp(null) removes a profile, seccomp(p) sets it; the input spec is not changed", () => {
    const base = baseSpec(false);
    const withProfile = seccomp(defaultSeccomp("x64") ?? null)(base);
    assert.ok(withProfile.linux.seccomp);
    assert.equal(base.linux.seccomp, undefined);
    assert.equal(seccomp(null)(withProfile).linux.seccomp, undefined);
    assert.ok(withProfile.linux.seccomp, "not mutated");
  });

  test("an unknown machine gets no profile rather than a wrong one", () => {
    assert.equal(hardening("riscv64")(baseSpec(false)).linux.seccomp, undefined);
  });

  test("bundle specs: /sys/fs/cgroup read-only, noNewPrivileges, cgroup namespace, valid for root and rootless", () => {
    for (const rootless of [false, true]) {
      const spec = bundleSpec({ ...input, rootless, uid: rootless ? 1000 : 0, gid: rootless ? 1000 : 0 });
      assert.ok(spec.mounts.find((m) => m.destination === "/sys/fs/cgroup")?.options?.includes("ro"));
      assert.equal(spec.process.noNewPrivileges, true);
      assert.ok(spec.linux.namespaces.some((n) => n.type === "cgroup"));
      assert.deepEqual(spec.linux.maskedPaths, MASKED_PATHS);
      assert.deepEqual(spec.process.capabilities.inheritable, []);
      assert.deepEqual(spec.process.capabilities.ambient, []);
      assert.ok(!spec.process.capabilities.bounding.includes("CAP_SYS_ADMIN"));
      assert.deepEqual(validateOciConfig(spec), []);
    }
  });
});
