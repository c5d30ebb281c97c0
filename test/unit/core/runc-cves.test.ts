import assert from "node:assert/strict";
import { test } from "node:test";
import { RUNC_CVES, runcCveStatus, upstreamAffected } from "../../../src/core/runc-cves.ts";

const affected = (upstream: string, debian?: string) =>
  runcCveStatus(upstream, debian ? { distro: "debian", version: debian } : undefined)
    .filter((s) => s.affected)
    .map((s) => s.id);

const ALL = RUNC_CVES.map((c) => c.id);

test("Debian bookworm's 1.1.5+ds1-1+deb12u1 carries the fix for CVE-2024-21626 only", () => {
  assert.deepEqual(affected("1.1.5+ds1", "1.1.5+ds1-1+deb12u1"), ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  const fixed = runcCveStatus("1.1.5+ds1", { distro: "debian", version: "1.1.5+ds1-1+deb12u1" })[0];
  assert.equal(fixed?.affected, false);
  assert.match(fixed?.reason ?? "", /debian package since 1\.1\.5\+ds1-1\+deb12u1/);
});

test("the same upstream version without the Debian revision, or an older revision, has them all", () => {
  assert.deepEqual(affected("1.1.5+ds1", "1.1.5+ds1-1"), ALL);
  assert.deepEqual(affected("1.1.5"), ALL);
});

test("upstream releases: by branch", () => {
  assert.deepEqual(affected("1.1.12"), ["CVE-2024-45310", "CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  assert.deepEqual(affected("1.1.14"), ["CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  assert.deepEqual(affected("1.2.0"), ["CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  assert.deepEqual(affected("1.2.7"), ["CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  assert.deepEqual(affected("1.2.8"), []);
  assert.deepEqual(affected("1.3.2"), ["CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  assert.deepEqual(affected("1.3.3"), []);
  assert.deepEqual(affected("1.4.0-rc.2"), ["CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"]);
  assert.deepEqual(affected("1.4.0-rc.3"), []);
  assert.deepEqual(affected("1.4.0"), []);
  assert.deepEqual(affected("1.0.0-rc92"), ALL);
});

test("upstreamAffected: a branch without its own fix is affected only if a newer fix exists", () => {
  assert.equal(upstreamAffected("1.0.3", ["1.1.12"]), true);
  assert.equal(upstreamAffected("1.2.0", ["1.1.12"]), false);
  assert.equal(upstreamAffected("1.1.11", ["1.1.12"]), true);
  assert.equal(upstreamAffected("2.0.0", ["1.2.8", "1.3.3", "1.4.0-rc.3"]), false);
});
