import assert from "node:assert/strict";
import { test } from "node:test";
import { isWithin } from "../../../src/core/path.ts";

test("isWithin: the directory itself and what is below it, compared by components", () => {
  assert.equal(isWithin("/a/b", "/a/b"), true);
  assert.equal(isWithin("/a/b/c", "/a/b"), true);
  assert.equal(isWithin("/a/bc", "/a/b"), false);
  assert.equal(isWithin("/a", "/a/b"), false);
  assert.equal(isWithin("/anything", "/"), true);
  assert.equal(isWithin("/a/b/c", "/a/b/"), true);
});
