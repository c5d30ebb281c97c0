/**
 * cm doctor on machines this host cannot boot: each fixture under test/unit/fixtures/hosts/ is the
 * part of a machine's filesystem the readers look at (/proc/self/mountinfo, /proc/self/cgroup,
 * /proc/sys, the user manager's cgroup.controllers, /run/systemd/system, the user's bus, /etc/subuid),
 * read by the real readers and judged by the pure verdicts.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type DoctorFacts, doctorChecks } from "../../../src/core/doctor.ts";
import { readCgroupFacts } from "../../../src/host/cgroups.ts";
import { parseSubid, readUsernsFacts } from "../../../src/host/probes.ts";

const HOSTS = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/hosts");

/** The doctor's checks for user alice (uid 1000) in a login session on fixture machine `name`. */
function checksOn(name: string) {
  const root = `${join(HOSTS, name)}/`;
  const text = (p: string) => readFileSync(root + p, "utf8");
  const facts: DoctorFacts = {
    rootless: true,
    user: "alice",
    runc: { path: "/usr/sbin/runc", version: { version: "1.3.3", commit: "v1.3.3", spec: "1.2.1", libseccomp: "2.5.5" } },
    runcDebian: undefined,
    runsc: true,
    userns: readUsernsFacts(root),
    newuidmap: true,
    newgidmap: true,
    subuid: parseSubid(text("etc/subuid"), "alice", 1000),
    subgid: parseSubid(text("etc/subgid"), "alice", 1000),
    cgroups: readCgroupFacts(root, 1000, { XDG_RUNTIME_DIR: "/run/user/1000" }),
    mmdebstrap: true,
    setfattr: true,
    init: true,
    dirs: [],
    disk: { path: "/home", freeBytes: 50 * 2 ** 30 },
  };
  return Object.fromEntries(doctorChecks(facts).map((c) => [c.id, c]));
}

test("Debian 12 desktop: user namespaces, cgroup v2 with cpu memory pids delegated, the user's systemd and bus", () => {
  const c = checksOn("debian12");
  assert.equal(c.userns?.status, "ok");
  assert.equal(c.subids?.status, "ok");
  assert.equal(c.cgroups?.status, "ok");
  assert.match(
    c.cgroups?.message ?? "",
    /^cgroup v2: controllers delegated to alice \(\/user\.slice\/user-1000\.slice\/user@1000\.service\): cpu memory pids$/,
  );
  assert.equal(c.systemd?.status, "ok");
  assert.match(c.systemd?.message ?? "", /user@1000\.service.*\/run\/user\/1000\/bus/);
});

test("no cpu delegated (systemd before 252): a warning naming --cpus and the drop-in", () => {
  const c = checksOn("debian12-no-cpu");
  assert.equal(c.cgroups?.status, "warn");
  assert.match(c.cgroups?.message ?? "", /not delegated: cpu \(--cpus refused\)/);
  assert.match(c.cgroups?.fix ?? "", /\/etc\/systemd\/system\/user@\.service\.d\/delegate\.conf/);
  assert.match(c.cgroups?.fix ?? "", /Delegate=cpu cpuset io memory pids/);
});

test("Ubuntu 23.10+: AppArmor's restriction of unprivileged user namespaces, with both fixes", () => {
  const c = checksOn("ubuntu2404");
  assert.equal(c.userns?.status, "fail");
  assert.match(c.userns?.message ?? "", /kernel\.apparmor_restrict_unprivileged_userns is 1/);
  assert.match(c.userns?.fix ?? "", /sysctl -w kernel\.apparmor_restrict_unprivileged_userns=0/);
  assert.match(c.userns?.fix ?? "", /\/etc\/sysctl\.d\//);
  assert.match(c.userns?.fix ?? "", /userns,.*apparmor_parser -r/);
});

test("Debian's kernel.unprivileged_userns_clone=0", () => {
  const c = checksOn("debian-userns-off");
  assert.equal(c.userns?.status, "fail");
  assert.match(c.userns?.message ?? "", /kernel\.unprivileged_userns_clone is 0/);
  assert.match(c.userns?.fix ?? "", /sysctl -w kernel\.unprivileged_userns_clone=1.*sysctl\.d/);
});

test("user.max_user_namespaces=0", () => {
  const c = checksOn("max-userns-zero");
  assert.equal(c.userns?.status, "fail");
  assert.match(c.userns?.message ?? "", /user\.max_user_namespaces is 0/);
  assert.match(c.userns?.fix ?? "", /sysctl -w user\.max_user_namespaces=15000/);
});

test("no subordinate ranges for this user: a warning with the usermod to run", () => {
  const c = checksOn("no-subids");
  assert.equal(c.subids?.status, "warn");
  assert.match(c.subids?.message ?? "", /subuid none, subgid none for alice/);
  assert.match(c.subids?.fix ?? "", /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice/);
});
