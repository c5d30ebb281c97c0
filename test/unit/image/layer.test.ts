import assert from "node:assert/strict";
import { test } from "node:test";
import { idInside, OVERFLOW_ID } from "../../../src/image/layer.ts";

test("no mapping (a root bundle): ids stay as they are", () => {
  assert.equal(idInside(0, undefined), 0);
  assert.equal(idInside(1000, []), 1000);
});

test("a rootless bundle's single mapping: the user's files are root's inside, others are nobody", () => {
  const m = [{ containerID: 0, hostID: 1001, size: 1 }];
  assert.equal(idInside(1001, m), 0);
  assert.equal(idInside(0, m), OVERFLOW_ID);
  assert.equal(idInside(1002, m), OVERFLOW_ID);
});

test("a subordinate range (0 -> uid, 1..65536 -> subuid_start..): subuid_start+N-1 is N inside", () => {
  const m = [
    { containerID: 0, hostID: 1001, size: 1 },
    { containerID: 1, hostID: 100_000, size: 65_536 },
  ];
  assert.equal(idInside(1001, m), 0);
  assert.equal(idInside(100_000, m), 1);
  assert.equal(idInside(100_000 + 42 - 1, m), 42);
  assert.equal(idInside(100_000 + 65_535, m), 65_536);
  assert.equal(idInside(100_000 + 65_536, m), OVERFLOW_ID);
});
