import assert from "node:assert/strict";
import { test } from "node:test";
import { CONTAINER_ID } from "../../../src/core/names.ts";
import { newContainerId } from "../../../src/host/random.ts";

test("newContainerId: 12 hex digits, a valid runc ID, different every time", () => {
  const ids = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const id = newContainerId();
    assert.match(id, /^[0-9a-f]{12}$/);
    assert.match(id, CONTAINER_ID);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
});
