import assert from "node:assert/strict";
import { test } from "node:test";
import { assembleImage, rfc3339 } from "../../../src/image/image-out.ts";

const run = {
  env: ["PATH=/usr/bin:/bin"],
  entrypoint: [],
  cmd: ["/bin/sh", "-l"],
  user: "0:0",
  workingDir: "/project",
  labels: { "z.last": "1", "a.first": "2" },
};
const layers = [{ digest: `sha256:${"1".repeat(64)}`, diffId: `sha256:${"2".repeat(64)}`, size: 10 }];

test("the same input gives the same config and manifest digests; labels sorted", () => {
  const a = assembleImage(run, layers, { created: 0, architecture: "amd64", createdBy: "cm export" });
  const b = assembleImage({ ...run, labels: { "a.first": "2", "z.last": "1" } }, layers, {
    created: 0,
    architecture: "amd64",
    createdBy: "cm export",
  });
  assert.equal(a.manifestDigest, b.manifestDigest);
  const config = JSON.parse(a.config.toString());
  assert.deepEqual(Object.keys(config.config.Labels), ["a.first", "z.last"]);
  assert.equal(config.created, "1970-01-01T00:00:00Z");
  assert.deepEqual(config.rootfs.diff_ids, [layers[0]?.diffId]);
  assert.equal(config.config.Entrypoint, undefined, "no Entrypoint key when there is none");
  const manifest = JSON.parse(a.manifest.toString());
  assert.equal(manifest.config.digest, a.configDigest);
  assert.equal(manifest.layers[0].mediaType, "application/vnd.oci.image.layer.v1.tar+gzip");
});

test("a different time is a different image", () => {
  const a = assembleImage(run, layers, { created: 0, architecture: "amd64", createdBy: "x" });
  const b = assembleImage(run, layers, { created: 1, architecture: "amd64", createdBy: "x" });
  assert.notEqual(a.manifestDigest, b.manifestDigest);
  assert.equal(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
});
