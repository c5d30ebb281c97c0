import assert from "node:assert/strict";
import { test } from "node:test";
import { blobFile, prunePlan } from "../../../src/core/cache-names.ts";
import { CmError } from "../../../src/errors.ts";

const hex = "ab".repeat(32);

test("blob cache names: blobs, partial downloads, locks, manifests being written", () => {
  assert.deepEqual(blobFile(hex), { kind: "blob", hex });
  assert.deepEqual(blobFile(`.${hex}.partial`), { kind: "partial", hex });
  assert.deepEqual(blobFile(`.${hex}.lock`), { kind: "lock", hex });
  assert.deepEqual(blobFile(`.${hex}.lock.takeover`), { kind: "lock-takeover", hex });
  assert.deepEqual(blobFile(`.${hex}.tmp-123`), { kind: "tmp", hex, pid: 123 });
  assert.deepEqual(blobFile(`${hex}.tmp-9`), { kind: "tmp", hex, pid: 9 });
  assert.deepEqual(blobFile(`.${hex}.lock.stale-77`), { kind: "stale-lock", hex, pid: 77 });
});

test("anything else in the directory is not cm's: left alone", () => {
  for (const name of [
    "",
    "README",
    hex.toUpperCase(),
    hex.slice(1),
    `${hex}x`,
    `.${hex}.partial.x`,
    `.${hex}.tmp-0`,
    `.${hex}.tmp-`,
    `.${hex}.lock.stale-x`,
    "../x",
  ]) {
    assert.equal(blobFile(name), undefined, name);
  }
});

test("prune: nothing named is everything; blobs and bases are groups; other keys are bases", () => {
  const bases = ["debian-bookworm-amd64-minbase", "debian-trixie-amd64-minbase"];
  assert.deepEqual(prunePlan([], bases), { bases: "all", blobs: true });
  assert.deepEqual(prunePlan(["blobs"], bases), { bases: "none", blobs: true });
  assert.deepEqual(prunePlan(["bases"], bases), { bases: "all", blobs: false });
  assert.deepEqual(prunePlan(["bases", "blobs"], bases), { bases: "all", blobs: true });
  assert.deepEqual(prunePlan(["debian-trixie-amd64-minbase", "debian-trixie-amd64-minbase"], bases), {
    bases: ["debian-trixie-amd64-minbase"],
    blobs: false,
  });
  assert.deepEqual(prunePlan(["blobs", "debian-trixie-amd64-minbase"], bases), { bases: ["debian-trixie-amd64-minbase"], blobs: true });
  assert.deepEqual(prunePlan(["blobs"], []), { bases: "none", blobs: true });
});

test("prune: an unknown key is an error naming it and what is cached", () => {
  assert.throws(
    () => prunePlan(["blobs", "nope"], ["debian-bookworm-amd64-minbase"]),
    (e: unknown) =>
      e instanceof CmError && e.message === 'no cached base "nope"' && /debian-bookworm-amd64-minbase, bases, blobs/.test(e.hint ?? ""),
  );
});
