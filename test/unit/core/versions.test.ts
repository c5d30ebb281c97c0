import assert from "node:assert/strict";
import { test } from "node:test";
import { compareDebian, compareRelease, parseRelease, releaseBranch } from "../../../src/core/versions.ts";

test("release versions: numeric parts, pre-releases before releases, build suffixes ignored", () => {
  assert.ok(compareRelease("1.1.5", "1.1.12") < 0);
  assert.ok(compareRelease("1.1.14", "1.1.5+ds1") > 0);
  assert.equal(compareRelease("1.1.5+ds1", "1.1.5"), 0);
  assert.ok(compareRelease("1.4.0-rc.2", "1.4.0-rc.3") < 0);
  assert.ok(compareRelease("1.4.0-rc.10", "1.4.0-rc.3") > 0);
  assert.ok(compareRelease("1.4.0-rc.3", "1.4.0") < 0);
  assert.ok(compareRelease("v1.2.8", "1.2.7") > 0);
  assert.equal(releaseBranch("1.1.5+ds1"), "1.1");
  assert.equal(parseRelease("not-a-version"), undefined);
  assert.throws(() => compareRelease("x", "1.0.0"));
});

test("Debian versions compare as dpkg does", () => {
  const ordered = ["1.1.5+ds1-1", "1.1.5+ds1-1+deb12u1", "1.1.5+ds1-1+deb12u2", "1.1.12+ds1-1", "1.1.15+ds1-1", "1:0.1-1"];
  for (let i = 0; i + 1 < ordered.length; i++)
    assert.ok(compareDebian(ordered[i] as string, ordered[i + 1] as string) < 0, `${ordered[i]} < ${ordered[i + 1]}`);
  assert.ok(compareDebian("1.0~rc1-1", "1.0-1") < 0, "tilde sorts first");
  assert.equal(compareDebian("1.1.5+ds1-1+deb12u1", "1.1.5+ds1-1+deb12u1"), 0);
  assert.ok(compareDebian("1.1.5+ds1-1+deb12u1", "1.1.5+ds1-1") > 0);
  assert.ok(compareDebian("2.0-1", "10.0-1") < 0);
});
