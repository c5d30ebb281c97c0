import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { addReader, listBases, liveReaders, staleWork } from "../../../src/store/bases.ts";

const cache = mkdtempSync(join(tmpdir(), "cm-readers-"));
mkdirSync(join(cache, "bases"));
after(() => rmSync(cache, { recursive: true, force: true }));

test("a registered reader is live until it releases", () => {
  const release = addReader(cache, "debian-bookworm-amd64-minbase");
  assert.deepEqual(liveReaders(cache, "debian-bookworm-amd64-minbase"), [process.pid]);
  assert.deepEqual(liveReaders(cache, "debian-bookworm-amd64"), [], "another key's readers are not this one's");
  release();
  assert.deepEqual(liveReaders(cache, "debian-bookworm-amd64-minbase"), []);
  release(); // twice is harmless
});

test("the marker of a process that is gone is removed, not counted", () => {
  const gone = spawnSync("true").pid as number;
  const marker = join(cache, "bases", `.image-abc.reader-${gone}`);
  writeFileSync(marker, "");
  assert.deepEqual(liveReaders(cache, "image-abc"), []);
  assert.equal(existsSync(marker), false);
});

test("a reused pid (another start time) is not a reader", () => {
  const marker = join(cache, "bases", `.image-abc.reader-${process.pid}`);
  writeFileSync(marker, "1");
  assert.deepEqual(liveReaders(cache, "image-abc"), []);
  assert.equal(existsSync(marker), false);
});

test("reader markers are neither bases nor leftovers of fills", () => {
  const release = addReader(cache, "image-def");
  assert.deepEqual(listBases(cache), []);
  assert.deepEqual(staleWork(cache), []);
  release();
});
