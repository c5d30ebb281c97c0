import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkDistinct, parseVolume } from "../../../../src/core/run/volume.ts";
import { CmError } from "../../../../src/errors.ts";

describe("parseVolume", () => {
  test("SRC:DST and SRC:DST:ro|rw", () => {
    assert.deepEqual(parseVolume("/srv/data:/data"), { source: "/srv/data", destination: "/data", readOnly: false });
    assert.deepEqual(parseVolume("./rel:/data:ro"), { source: "./rel", destination: "/data", readOnly: true });
    assert.deepEqual(parseVolume("/a:/b:rw"), { source: "/a", destination: "/b", readOnly: false });
  });
  test("DST is normalised", () => {
    assert.equal(parseVolume("/a://data//sub/").destination, "/data/sub");
  });
  test("/project itself is allowed (the action checks the source); below it is refused", () => {
    assert.equal(parseVolume(".:/project:ro").destination, "/project");
    assert.throws(
      () => parseVolume("/a:/project/sub"),
      (e: CmError) => /inside \/project/.test(e.message),
    );
    assert.throws(() => parseVolume("/a:/project//x/"), CmError);
  });
  test("malformed specs are refused with the reason", () => {
    const cases: [string, RegExp][] = [
      ["/a", /no ':'/],
      ["/a:/b:ro:x", /too many ':'/],
      [":/b", /SRC is empty/],
      ["/a:", /not an absolute path/],
      ["/a:b", /not an absolute path/],
      ["/a:/", /hide the container's root/],
      ["/a:///", /hide the container's root/],
      ["/a:/b/../c", /'\.' or '\.\.'/],
      ["/a:/./b", /'\.' or '\.\.'/],
      ["/a:/proc", /managed by the runtime/],
      ["/a:/sys/x", /managed by the runtime/],
      ["/a:/dev", /managed by the runtime/],
      ["/a:/b:rx", /unknown option "rx"/],
      ["/a:/b:", /unknown option ""/],
      ["/a\0:/b", /NUL/],
    ];
    for (const [spec, why] of cases) {
      assert.throws(
        () => parseVolume(spec),
        (e: CmError) => e instanceof CmError && why.test(e.message) && e.message.startsWith("invalid volume"),
        spec,
      );
    }
  });
  test("/proc-like names that are not below /proc are fine", () => {
    assert.equal(parseVolume("/a:/process").destination, "/process");
    assert.equal(parseVolume("/a:/devices").destination, "/devices");
  });
});

describe("checkDistinct", () => {
  test("two volumes on one destination are refused", () => {
    assert.throws(() => checkDistinct([parseVolume("/a:/d"), parseVolume("/b:/d/")]), /two volumes on \/d/);
    checkDistinct([parseVolume("/a:/d"), parseVolume("/a:/e")]);
  });
});
