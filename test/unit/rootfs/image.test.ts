import assert from "node:assert/strict";
import { test } from "node:test";
import { imageBaseKey } from "../../../src/rootfs/image.ts";

const digest = `sha256:${"0123456789abcdef".repeat(4)}`;

test("an unpacked image's cache key is its manifest digest, apart for rootless trees", () => {
  assert.equal(imageBaseKey(digest, false), "image-0123456789abcdef01234567");
  assert.equal(imageBaseKey(digest, true), "image-0123456789abcdef01234567-rootless");
});

test("image keys are names the base cache accepts (no slash, no dot first)", () => {
  for (const k of [imageBaseKey(digest, false), imageBaseKey(digest, true)]) assert.match(k, /^[a-z][a-z0-9-]+$/);
});
