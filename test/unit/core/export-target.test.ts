import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultImageName, parseTarget } from "../../../src/core/export-target.ts";

test("oci-layout: DIR and an optional TAG (latest by default)", () => {
  assert.deepEqual(parseTarget("oci-layout:out"), { kind: "oci-layout", dir: "out", tag: "latest" });
  assert.deepEqual(parseTarget("oci-layout:/tmp/o:v1.2"), { kind: "oci-layout", dir: "/tmp/o", tag: "v1.2" });
  assert.deepEqual(parseTarget("oci-layout:a:b/c"), { kind: "oci-layout", dir: "a:b/c", tag: "latest" });
  assert.throws(() => parseTarget("oci-layout:"), /directory is missing/);
  assert.throws(() => parseTarget("oci-layout:o:-bad"), /not a valid tag/);
});

test("docker-archive: FILE up to the first ':', then the image's name", () => {
  assert.deepEqual(parseTarget("docker-archive:a.tar"), { kind: "docker-archive", file: "a.tar", ref: undefined });
  assert.deepEqual(parseTarget("docker-archive:a.tar:localhost:5000/x:y"), {
    kind: "docker-archive",
    file: "a.tar",
    ref: "localhost:5000/x:y",
  });
  assert.throws(() => parseTarget("docker-archive:a.tar:"), /reference after the file name is empty/);
});

test("image: a reference; a digest or an unknown transport is refused", () => {
  assert.deepEqual(parseTarget("image:127.0.0.1:5000/a/b:v1"), { kind: "image", ref: "127.0.0.1:5000/a/b:v1" });
  assert.throws(() => parseTarget(`image:r/x@sha256:${"a".repeat(64)}`), /push to a tag/);
  assert.throws(() => parseTarget("docker://x"), /unknown destination/);
  assert.throws(() => parseTarget("x"), /unknown destination/);
});

test("default names are valid references", () => {
  assert.equal(defaultImageName("My Project", "default"), "localhost/my-project:default");
  assert.equal(defaultImageName("---", ".x"), "localhost/project:x");
});
