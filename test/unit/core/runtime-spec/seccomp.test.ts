import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type BundleSpecInput, bundleSpec, runSpec } from "../../../../src/core/runtime-spec/index.ts";
import {
  ARCHITECTURES,
  DENIED,
  defaultSeccomp,
  deniedNames,
  ENOSYS,
  EPERM,
  NAMESPACE_FLAGS,
  PERSONALITY_FLAGS,
  PERSONALITY_QUERY,
  parseSeccompProfile,
} from "../../../../src/core/runtime-spec/seccomp.ts";
import type { Seccomp, SeccompSyscall } from "../../../../src/core/runtime-spec/types.ts";
import { CmError } from "../../../../src/errors.ts";
import { validateOciConfig } from "../../../helpers/oci-schema.ts";
import { bundleInput } from "../../../helpers/runtime-spec.ts";

const input: BundleSpecInput = bundleInput(true, { resolvConf: false });

/**
 * What the filter does with one call, as runc 1.1 + libseccomp build it: an entry matches when all
 * its conditions hold (one condition per entry here); the first matching ERRNO wins; else default.
 */
function decide(profile: Seccomp, name: string, arg0: number): { action: string; errno?: number } {
  for (const s of profile.syscalls ?? []) {
    if (!s.names.includes(name)) continue;
    const ok = (s.args ?? []).every((a) => {
      assert.equal(a.op, "SCMP_CMP_MASKED_EQ");
      return (BigInt(arg0) & BigInt(a.value)) === BigInt(a.valueTwo ?? 0);
    });
    if (ok) return { action: s.action, errno: s.errnoRet as number };
  }
  return { action: profile.defaultAction };
}

describe("default seccomp profile", () => {
  const profile = defaultSeccomp("x64") as Seccomp;

  test("allow by default, x86_64 with its 32-bit ABIs; aarch64 with arm; none for unknown machines", () => {
    assert.equal(profile.defaultAction, "SCMP_ACT_ALLOW");
    assert.deepEqual(profile.architectures, ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    assert.deepEqual(defaultSeccomp("arm64")?.architectures, ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]);
    assert.equal(defaultSeccomp("s390x"), undefined);
    assert.deepEqual(Object.keys(ARCHITECTURES).sort(), ["arm64", "x64"]);
  });

  test("every denied group is EPERM whatever the arguments", () => {
    for (const g of DENIED) {
      assert.ok(g.reason.length > 10, g.group);
      for (const name of g.syscalls) assert.deepEqual(decide(profile, name, 0), { action: "SCMP_ACT_ERRNO", errno: EPERM }, name);
    }
    for (const name of [
      "keyctl",
      "bpf",
      "perf_event_open",
      "userfaultfd",
      "open_by_handle_at",
      "mount",
      "setns",
      "kexec_load",
      "init_module",
    ]) {
      assert.ok(deniedNames(profile).includes(name), name);
    }
  });

  test("clone3 is ENOSYS so that libc falls back to clone", () => {
    assert.deepEqual(decide(profile, "clone3", 0), { action: "SCMP_ACT_ERRNO", errno: ENOSYS });
  });

  test("clone and unshare: denied with any namespace flag, allowed without", () => {
    const SIGCHLD = 17;
    const CLONE_THREAD_FLAGS = 0x3d0f00; // what pthread_create passes
    for (const [flag, bit] of Object.entries(NAMESPACE_FLAGS)) {
      assert.equal(decide(profile, "clone", bit | SIGCHLD).action, "SCMP_ACT_ERRNO", flag);
      assert.equal(decide(profile, "unshare", bit).action, "SCMP_ACT_ERRNO", flag);
      assert.equal(decide(profile, "unshare", bit | 0x200).action, "SCMP_ACT_ERRNO", `${flag} with CLONE_FS`);
    }
    assert.equal(decide(profile, "unshare", 0x80).action, "SCMP_ACT_ERRNO", "CLONE_NEWTIME");
    assert.equal(decide(profile, "clone", SIGCHLD).action, "SCMP_ACT_ALLOW", "fork");
    assert.equal(decide(profile, "clone", CLONE_THREAD_FLAGS).action, "SCMP_ACT_ALLOW", "threads");
    assert.equal(decide(profile, "clone", 0x80 | 0x4000).action, "SCMP_ACT_ALLOW", "exit signal 128+ is not CLONE_NEWTIME for clone");
    assert.equal(decide(profile, "unshare", 0x400).action, "SCMP_ACT_ALLOW", "unshare(CLONE_FILES)");
  });

  test("personality: weakening flags denied, ordinary personas and the query allowed", () => {
    for (const [flag, bit] of Object.entries(PERSONALITY_FLAGS)) {
      // all bits but one set (the bypass a naive "not the query" rule would allow)
      for (const v of [bit, bit | 0x8, bit | 0x20000, 0xffffffff - 1, 0xffffffff - 0x80000000]) {
        assert.equal(decide(profile, "personality", v).action, "SCMP_ACT_ERRNO", `${flag}: ${v.toString(16)}`);
      }
    }
    for (const v of [0, 0x8, 0x20000, 0x20008, PERSONALITY_QUERY]) {
      assert.equal(decide(profile, "personality", v).action, "SCMP_ACT_ALLOW", v.toString(16));
    }
  });

  test("at most one condition per entry (runc ORs several conditions on one argument)", () => {
    for (const s of profile.syscalls as SeccompSyscall[]) assert.ok((s.args ?? []).length <= 1, s.names.join(","));
  });

  test("stored in the bundle's config, valid against the OCI schema, root and rootless", () => {
    for (const rootless of [true, false]) {
      const spec = bundleSpec({ ...input, rootless });
      assert.deepEqual(spec.linux.seccomp, profile);
      assert.deepEqual(validateOciConfig(spec), []);
    }
  });

  test("runSpec: undefined keeps the stored profile, null removes it, a profile replaces it; all valid", () => {
    const stored = bundleSpec(input);
    const args = { rootfsPath: "/r", args: ["true"], terminal: false };
    assert.deepEqual(runSpec(stored, args).linux.seccomp, profile);
    const unconfined = runSpec(stored, { ...args, seccomp: null });
    assert.equal(unconfined.linux.seccomp, undefined);
    assert.deepEqual(stored.linux.seccomp, profile, "the stored spec is not changed");
    const custom: Seccomp = { defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW" }] };
    assert.deepEqual(runSpec(stored, { ...args, seccomp: custom }).linux.seccomp, custom);
    for (const s of [runSpec(stored, args), unconfined, runSpec(stored, { ...args, seccomp: custom })]) {
      assert.deepEqual(validateOciConfig(s), []);
    }
  });
});

describe("parseSeccompProfile", () => {
  test("accepts OCI profiles, including cm's own", () => {
    const own = defaultSeccomp("x64") as Seccomp;
    assert.deepEqual(parseSeccompProfile(JSON.parse(JSON.stringify(own)), "f"), own);
    const minimal = { defaultAction: "SCMP_ACT_ERRNO", defaultErrnoRet: 1, architectures: ["SCMP_ARCH_X86_64"], syscalls: [] };
    assert.deepEqual(parseSeccompProfile(minimal, "f"), minimal);
  });

  test("refuses malformed ones with a one-line CmError naming the problem", () => {
    const cases: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [[], /not a JSON object/],
      [{}, /defaultAction/],
      [{ defaultAction: "ALLOW" }, /defaultAction/],
      [{ defaultAction: "SCMP_ACT_NOTIFY" }, /listener/],
      [{ defaultAction: "SCMP_ACT_ALLOW", bogus: 1 }, /unknown field "bogus"/],
      [{ defaultAction: "SCMP_ACT_ALLOW", archMap: [] }, /Docker-format/],
      [{ defaultAction: "SCMP_ACT_ALLOW", architectures: ["x86_64"] }, /architectures/],
      [{ defaultAction: "SCMP_ACT_ALLOW", syscalls: {} }, /syscalls must be a list/],
      [{ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: [], action: "SCMP_ACT_ERRNO" }] }, /names/],
      [{ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["../x"], action: "SCMP_ACT_ERRNO" }] }, /names/],
      [{ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "X" }] }, /action/],
      [{ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO", errnoRet: -1 }] }, /errnoRet/],
      [{ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO", includes: {} }] }, /Docker-format/],
      [
        {
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO", args: [{ index: 6, value: 0, op: "SCMP_CMP_EQ" }] }],
        },
        /index must be 0-5/,
      ],
      [
        {
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["read"], action: "SCMP_ACT_ERRNO", args: [{ index: 0, value: 0, op: "EQ" }] }],
        },
        /op must be/,
      ],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseSeccompProfile(value, "profile.json"),
        (err: unknown) =>
          err instanceof CmError && message.test(err.message) && !err.message.includes("\n") && err.message.startsWith("profile.json"),
        JSON.stringify(value),
      );
    }
  });
});
