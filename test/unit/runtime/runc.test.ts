import assert from "node:assert/strict";
import { test } from "node:test";
import { parseList } from "../../../src/runtime/runc.ts";

test("runc list --format json: null when empty, states otherwise", () => {
  assert.deepEqual(parseList("null\n"), []);
  assert.deepEqual(parseList(""), []);
  const states = parseList('[{"id":"abc","pid":42,"status":"running","bundle":"/b","created":"2026-11-28T00:00:00Z"}]');
  assert.equal(states[0]?.id, "abc");
  assert.equal(states[0]?.status, "running");
});
