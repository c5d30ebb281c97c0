import assert from "node:assert/strict";
import { test } from "node:test";
import { usernsVerdict } from "../../../src/core/doctor.ts";
import { debianVersionFromCommit, parseRuncVersion, parseSubid } from "../../../src/host/probes.ts";

test("runc --version: Debian's build and an upstream build", () => {
  const debian = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n";
  assert.deepEqual(parseRuncVersion(debian), {
    version: "1.1.5+ds1",
    commit: "1.1.5+ds1-1+deb12u1",
    spec: "1.0.2-dev",
    libseccomp: "2.5.4",
  });
  assert.equal(debianVersionFromCommit("1.1.5+ds1-1+deb12u1"), "1.1.5+ds1-1+deb12u1");
  const upstream = "runc version 1.3.3\ncommit: v1.3.3-0-gd842d771\nspec: 1.2.1\ngo: go1.24.9\nlibseccomp: 2.5.6\n";
  assert.equal(parseRuncVersion(upstream)?.version, "1.3.3");
  assert.equal(debianVersionFromCommit(parseRuncVersion(upstream)?.commit), undefined);
  assert.equal(parseRuncVersion("runc version 1.2.0\nspec: 1.2.0\n")?.libseccomp, undefined, "built without seccomp");
  assert.equal(parseRuncVersion("garbage"), undefined);
});

test("subuid ranges by name or numeric id; malformed lines ignored", () => {
  const text = "alice:100000:65536\nbob:165536:65536\n1001:300000:1000\nbroken\ncarol:x:1\nalice:500000:10\n";
  assert.deepEqual(parseSubid(text, "alice", 1000), [
    { start: 100000, count: 65536 },
    { start: 500000, count: 10 },
  ]);
  assert.deepEqual(parseSubid(text, "dave", 1001), [{ start: 300000, count: 1000 }]);
  assert.deepEqual(parseSubid(text, "carol", 7), []);
  assert.deepEqual(parseSubid("", "alice", 1000), []);
});

test("user namespaces: available, disabled by sysctl, or missing", () => {
  assert.equal(usernsVerdict({ max: 1000, unprivilegedClone: 1, apparmorRestrict: undefined }).ok, true);
  assert.equal(usernsVerdict({ max: 1000, unprivilegedClone: undefined, apparmorRestrict: undefined }).ok, true);
  assert.match(usernsVerdict({ max: 0, unprivilegedClone: 1, apparmorRestrict: undefined }).why, /max_user_namespaces is 0/);
  assert.match(usernsVerdict({ max: 10, unprivilegedClone: 0, apparmorRestrict: undefined }).why, /unprivileged_userns_clone/);
  assert.match(usernsVerdict({ max: 10, unprivilegedClone: 1, apparmorRestrict: 1 }).why, /apparmor/);
  assert.equal(usernsVerdict({ max: undefined, unprivilegedClone: undefined, apparmorRestrict: undefined }).ok, false);
});
