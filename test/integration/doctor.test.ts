import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isOneLineError, sandbox, USERS } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm doctor (${as})`, () => {
    const sb = sandbox(as);

    test("one line per check; this host's runc is reported with its CVEs; exit 0 when nothing fails", () => {
      const r = sb.cm(["doctor"]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      const lines = r.stdout.trim().split("\n");
      for (const l of lines) assert.match(l, /^(OK {2}|WARN|FAIL) {2}\S/);
      assert.match(r.stdout, /^OK {4}runc +runc 1\.1\.5\+ds1 \(Debian package 1\.1\.5\+ds1-1\+deb12u1\)/m);
      assert.match(r.stdout, /^OK {4}CVE-2024-21626 +not affected/m);
      for (const id of ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]) {
        assert.match(r.stdout, new RegExp(`^WARN {2}${id} +affected`, "m"));
      }
      assert.match(r.stdout, /CVE-2025-31133.*--runtime runsc/);
      assert.match(r.stdout, /^(OK|WARN) +cgroups +cgroup v1/m);
      assert.match(r.stdout, new RegExp(`^${as === "root" ? "OK {4}cgroups.*enforced" : "WARN {2}cgroups.*no limits for rootless"}`, "m"));
      assert.match(r.stdout, /^OK {4}dir-data /m);
      assert.match(r.stdout, /^OK {4}disk +[\d.]+[KMGT]?i?B free/m);
    });

    test("--json: the same checks as data", () => {
      const r = sb.cm(["doctor", "--json"]);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as { ok: boolean; checks: { id: string; status: string; message: string; fix?: string }[] };
      assert.equal(out.ok, true);
      const ids = out.checks.map((c) => c.id);
      for (const id of [
        "runc",
        "seccomp",
        "CVE-2024-21626",
        "CVE-2025-52881",
        "userns",
        "subids",
        "cgroups",
        "mmdebstrap",
        "setfattr",
        "dir-data",
        "dir-cache",
        "dir-state",
        "disk",
      ]) {
        assert.ok(ids.includes(id), id);
      }
      for (const c of out.checks) {
        assert.ok(["ok", "warn", "fail"].includes(c.status));
        if (c.status !== "ok") assert.ok(c.fix, `${c.id} has a fix`);
      }
    });

    test("an unusable data directory fails the check and the exit status", () => {
      // root ignores permissions: a regular file where a directory would go is never usable
      const r = sb.cm(["doctor"], { env: { CM_HOME: as === "root" ? "/proc/version/cm" : "/root/cm-data" } });
      assert.equal(r.status, 1, r.stdout);
      assert.match(r.stdout, /^FAIL {2}dir-data .*not writable.* -- fix: .*CM_HOME/m);
    });

    test("bad arguments: one-line error, exit 125", () => {
      for (const args of [
        ["doctor", "--bogus"],
        ["doctor", "extra"],
      ]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
      }
    });
  });
}
