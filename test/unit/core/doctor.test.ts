import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type DoctorFacts, doctorChecks, doctorFailed, formatChecks, trustChecks } from "../../../src/core/doctor.ts";

const facts: DoctorFacts = {
  rootless: true,
  user: "alice",
  runc: {
    path: "/usr/sbin/runc",
    version: { version: "1.1.5+ds1", commit: "1.1.5+ds1-1+deb12u1", spec: "1.0.2-dev", libseccomp: "2.5.4" },
  },
  runcDebian: "1.1.5+ds1-1+deb12u1",
  runsc: false,
  userns: { max: 1000, unprivilegedClone: 1, apparmorRestrict: undefined },
  newuidmap: true,
  newgidmap: true,
  subuid: [{ start: 100000, count: 65536 }],
  subgid: [{ start: 100000, count: 65536 }],
  cgroups: { version: "v1", delegated: [] },
  mmdebstrap: true,
  setfattr: true,
  init: true,
  dirs: [{ name: "data", path: "/home/alice/.local/share/cm", writable: true }],
  disk: { path: "/home", freeBytes: 50 * 2 ** 30 },
};

const byId = (f: DoctorFacts) => Object.fromEntries(doctorChecks(f).map((c) => [c.id, c]));

test("bookworm's runc: CVE-2024-21626 ok, the others warn; 2025 ones suggest --runtime runsc", () => {
  const c = byId(facts);
  assert.equal(c["CVE-2024-21626"]?.status, "ok");
  for (const id of ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]) assert.equal(c[id]?.status, "warn", id);
  assert.match(c["CVE-2025-31133"]?.fix ?? "", /--runtime runsc.*apt-get install runsc/);
  assert.equal(c.runtime?.status, "warn");
  assert.equal(byId({ ...facts, runsc: true }).runtime?.status, "ok");
  assert.equal(doctorFailed(doctorChecks(facts)), false, "warnings do not fail");
});

test("a fixed runc has no CVE warnings and no runtime advice", () => {
  const c = byId({
    ...facts,
    runc: { path: "/usr/local/sbin/runc", version: { version: "1.3.3", commit: "v1.3.3", spec: "1.2.1", libseccomp: "2.5.6" } },
    runcDebian: undefined,
  });
  for (const id of ["CVE-2024-21626", "CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"])
    assert.equal(c[id]?.status, "ok", id);
  assert.equal(c.runtime, undefined);
});

test("failures: no runc, runc without seccomp, no user namespaces for rootless, unwritable dirs, no disk", () => {
  assert.equal(byId({ ...facts, runc: undefined }).runc?.status, "fail");
  assert.equal(
    byId({ ...facts, runc: { path: "/x", version: { version: "1.2.8", commit: undefined, spec: undefined, libseccomp: undefined } } })
      .seccomp?.status,
    "fail",
  );
  assert.equal(byId({ ...facts, userns: { max: 0, unprivilegedClone: 1, apparmorRestrict: undefined } }).userns?.status, "fail");
  assert.equal(
    byId({ ...facts, rootless: false, userns: { max: 0, unprivilegedClone: 1, apparmorRestrict: undefined } }).userns?.status,
    "warn",
  );
  const dir = byId({ ...facts, dirs: [{ name: "data", path: "/x", writable: false, reason: "/: EACCES" }] })["dir-data"];
  assert.equal(dir?.status, "fail");
  assert.match(dir?.fix ?? "", /CM_HOME/);
  assert.equal(byId({ ...facts, disk: { path: "/", freeBytes: 100 * 2 ** 20 } }).disk?.status, "fail");
  assert.equal(byId({ ...facts, disk: { path: "/", freeBytes: 1 * 2 ** 30 } }).disk?.status, "warn");
  assert.ok(doctorFailed(doctorChecks({ ...facts, runc: undefined })));
});

test("cgroups: rootless on v1 cannot have limits; v2 through the user's systemd with delegation; root always", () => {
  assert.equal(byId(facts).cgroups?.status, "warn");
  const v2 = {
    version: "v2" as const,
    ownCgroup: "/user.slice/user-1000.slice/session-1.scope",
    delegated: [],
    systemd: true,
    userManager: { path: "/user.slice/user-1000.slice/user@1000.service", controllers: ["memory", "pids"] },
    bus: "/run/user/1000/bus",
  };
  assert.equal(byId({ ...facts, cgroups: v2 }).cgroups?.status, "warn", "cpu is missing");
  assert.match(byId({ ...facts, cgroups: v2 }).cgroups?.message ?? "", /: memory pids; not delegated: cpu/);
  const full = { ...v2, userManager: { ...v2.userManager, controllers: ["cpu", "memory", "pids"] } };
  assert.equal(byId({ ...facts, cgroups: full }).cgroups?.status, "ok");
  assert.equal(byId({ ...facts, cgroups: full }).systemd?.status, "ok");
  const noBus = byId({ ...facts, cgroups: { ...full, bus: undefined } }).systemd;
  assert.equal(noBus?.status, "warn");
  assert.match(noBus?.fix ?? "", /dbus-user-session/);
  assert.equal(byId({ ...facts, cgroups: { ...full, userManager: undefined } }).cgroups?.status, "warn");
  assert.equal(byId({ ...facts, rootless: false }).cgroups?.status, "ok");
  assert.equal(byId(facts).systemd, undefined, "no systemd line without systemd");
});

test("subordinate ids, mmdebstrap and setfattr are warnings with a fix", () => {
  const c = byId({ ...facts, newuidmap: false, subuid: [] });
  assert.equal(c.subids?.status, "warn");
  assert.match(c.subids?.fix ?? "", /apt-get install uidmap; usermod --add-subuids/);
  assert.match(c.subids?.message ?? "", /map only your own id \(--userns single\)/);
  const ok = byId({ ...facts, idmapHow: { newuidmap: "setuid root", newgidmap: "file capability cap_setgid" } }).subids;
  assert.equal(ok?.status, "ok");
  assert.match(ok?.message ?? "", /newuidmap setuid root, newgidmap file capability cap_setgid; subuid \d+\+\d+/);
  assert.match(ok?.message ?? "", /ids 1\.\.N to your first ranges \(--userns range\)/);
  assert.equal(byId({ ...facts, mmdebstrap: false }).mmdebstrap?.status, "warn");
  assert.equal(byId({ ...facts, setfattr: false }).setfattr?.status, "warn");
  assert.equal(byId({ ...facts, setfattr: false }).setfattr?.fix, "apt-get install attr");
  assert.equal(byId({ ...facts, init: false }).init?.status, "warn");
  assert.equal(byId({ ...facts, init: false }).init?.fix, "apt-get install tini");
});

test("one line per check, status first, fix appended", () => {
  const checks = doctorChecks(facts);
  const lines = formatChecks(checks).split("\n");
  assert.equal(lines.length, checks.length);
  for (const l of lines) assert.match(l, /^(OK {2}|WARN|FAIL) {2}\S+ +\S/);
  assert.ok(lines.some((l) => l.includes("-- fix: ")));
});

describe("trustChecks", () => {
  const host = { path: "/etc/ssl/certs/ca-certificates.crt", count: 147 };
  test("a bundle that trusts everything the host does: ok", () => {
    const [c] = trustChecks({
      host,
      bundles: [{ name: "default", store: "/etc/ssl/certs/ca-certificates.crt", missing: [], hostCa: false }],
    });
    assert.equal(c?.status, "ok");
    assert.equal(c?.id, "ca-default");
  });
  test("missing authorities: warn, naming three and the count, with --host-ca and the cm.toml key as the fix", () => {
    const [c] = trustChecks({
      host,
      bundles: [
        {
          name: "py",
          store: "/etc/ssl/certs/ca-certificates.crt",
          missing: ["Corp Root CA", "Corp Issuing CA", "Dev CA", "Lab CA"],
          hostCa: false,
        },
      ],
    });
    assert.equal(c?.status, "warn");
    assert.match(
      c?.message ?? "",
      /bundle py does not trust 4 of the authorities the host trusts .*: Corp Root CA; Corp Issuing CA; Dev CA; and 1 more$/,
    );
    assert.match(c?.fix ?? "", /^cm run py --host-ca, or host_ca = true in cm.toml's \[run\] \(or \[bundle\.py\.run\]\)$/);
  });
  test("no store at all: warn, and installing ca-certificates is mentioned too", () => {
    const [c] = trustChecks({ host, bundles: [{ name: "default", store: undefined, missing: ["A", "B"], hostCa: false }] });
    assert.equal(c?.status, "warn");
    assert.match(c?.message ?? "", /has no CA store: it trusts none of the 147 authorities/);
    assert.match(c?.fix ?? "", /install ca-certificates/);
  });
  test("cm.toml sets host_ca for the bundle: ok", () => {
    const [c] = trustChecks({ host, bundles: [{ name: "default", store: undefined, missing: ["A"], hostCa: true }] });
    assert.equal(c?.status, "ok");
  });
  test("an unreadable host bundle: one warning when there are bundles, nothing otherwise", () => {
    const error = { error: "SSL_CERT_FILE=/x is not a file" };
    assert.equal(trustChecks({ host: error, bundles: [] }).length, 0);
    const checks = trustChecks({ host: error, bundles: [{ name: "a", store: undefined, missing: [], hostCa: false }] });
    assert.deepEqual(
      checks.map((c) => [c.id, c.status]),
      [["host-ca", "warn"]],
    );
  });
});
