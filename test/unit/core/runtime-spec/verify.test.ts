import assert from "node:assert/strict";
import { test } from "node:test";
import { runSpec } from "../../../../src/core/runtime-spec/index.ts";
import { PERL, storedOnly, verifyMounts } from "../../../../src/core/runtime-spec/verify.ts";
import { storedSpec } from "../../../helpers/runtime-spec.ts";

for (const rootless of [false, true]) {
  test(`storedOnly keeps cm's own mounts and drops hooks and foreign binds (${rootless ? "rootless" : "root"})`, () => {
    const stored = storedSpec(rootless);
    const planted = {
      ...stored,
      hooks: { createContainer: [{ path: "/bin/sh", args: ["sh", "-c", "id"] }] },
      mounts: [
        ...stored.mounts,
        { destination: "/host", type: "bind", source: "/", options: ["rbind", "rw"] },
        { destination: "/etc/resolv.conf2", type: "none", source: "/etc", options: ["bind"] },
        { destination: "/project", type: "bind", source: "/etc", options: ["rbind"] },
      ],
    };
    const out = storedOnly("/home/u/p")(planted);
    assert.equal(out.hooks, undefined);
    assert.deepEqual(out.mounts, stored.mounts, "exactly the mounts cm wrote at create");
    assert.deepEqual(storedOnly("/home/u/p")(stored), stored);
  });
}

test("verifyMounts: a createContainer hook with destination / device:inode pairs; none without checks", () => {
  const stored = storedSpec(false);
  assert.equal(verifyMounts([])(stored).hooks, undefined);
  const out = verifyMounts([
    { destination: "/project", dev: "2049", ino: "12" },
    { destination: "/x", dev: "18446744073709551615", ino: "1" },
  ])(stored);
  const hook = out.hooks?.createContainer?.[0];
  assert.equal(hook?.path, PERL);
  assert.deepEqual(hook?.args?.slice(0, 2), ["perl", "-e"]);
  assert.match(hook?.args?.[2] ?? "", /\/proc\/self\/mountinfo.*chroot\("\."\)/);
  assert.deepEqual(hook?.args?.slice(3), ["--", "/project", "2049:12", "/x", "18446744073709551615:1"]);
});

test("runSpec: planted hooks never reach the runtime; the mount check is added, except for runsc", () => {
  const stored = { ...storedSpec(true), hooks: { createContainer: [{ path: "/evil" }] } };
  const base = { rootfsPath: "/r", args: ["true"], terminal: false, mountChecks: [{ destination: "/project", dev: "1", ino: "2" }] };
  assert.equal(runSpec(stored, base).hooks?.createContainer?.[0]?.path, PERL);
  assert.equal(runSpec(stored, { ...base, runtime: "runsc" }).hooks, undefined);
  assert.equal(runSpec(stored, { ...base, mountChecks: [] }).hooks, undefined);
});
