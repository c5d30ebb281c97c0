import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { CONTAINER_ID, projectKey } from "../../../src/core/names.ts";

test("projectKey: a safe name is its own key", () => {
  assert.equal(projectKey("my-app"), "my-app");
});

test("projectKey: other names get a slug and 8 hex digits of sha256 (node:crypto loaded on demand)", () => {
  const hash = createHash("sha256").update("my project", "utf8").digest("hex").slice(0, 8);
  assert.equal(projectKey("my project"), `my_project-${hash}`);
  assert.equal(projectKey("my project"), projectKey("my project"));
  assert.notEqual(projectKey("my project"), projectKey("my_project"));
  assert.match(projectKey("café"), /^caf_-[0-9a-f]{8}$/);
  assert.match(projectKey("café"), CONTAINER_ID);
});
