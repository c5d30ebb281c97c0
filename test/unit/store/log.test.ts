import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CappedLog } from "../../../src/store/log.ts";

test("CappedLog: two files of at most maxBytes, the newest bytes kept, in order", () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-log-"));
  const log = new CappedLog(dir, 10);
  let all = "";
  for (let i = 0; i < 25; i++) {
    const chunk = `${i % 10}`.repeat(3);
    all += chunk;
    log.write(Buffer.from(chunk));
  }
  log.close();
  const cur = readFileSync(join(dir, "container.log"), "utf8");
  const old = readFileSync(join(dir, "container.log.1"), "utf8");
  assert.ok(statSync(join(dir, "container.log")).size <= 10 && old.length === 10);
  assert.ok(all.endsWith(old + cur), "the two files are the tail of what was written");
});

test("CappedLog: a chunk larger than the limit is split over rotations", () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-log-"));
  const log = new CappedLog(dir, 4);
  log.write(Buffer.from("abcdefghij"));
  log.close();
  assert.equal(readFileSync(join(dir, "container.log.1"), "utf8"), "efgh");
  assert.equal(readFileSync(join(dir, "container.log"), "utf8"), "ij");
});
