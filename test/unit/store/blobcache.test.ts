import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { startTime } from "../../../src/host/pid.ts";
import { blobSummary, blobsDir, pruneBlobs } from "../../../src/store/blobcache.ts";

const cache = mkdtempSync(join(tmpdir(), "cm-blobcache-"));
after(() => rmSync(cache, { recursive: true, force: true }));
const DEAD = 999999;
const hex = (c: string) => c.repeat(64);

/** A lock as store/lock.ts makes it (a symlink naming its owner); a dead owner's has no start time to check. */
function lock(dir: string, h: string, pid: number): void {
  const start = pid === process.pid ? startTime(pid) : "";
  symlinkSync(`${pid}:${start}`, join(dir, `.${h}.lock`));
}

test("summary and prune: live downloads kept, dead processes' leftovers removed, foreign files left alone", () => {
  const dir = blobsDir(cache);
  assert.deepEqual(blobSummary(cache), { count: 0, sizeBytes: 0, partials: 0, partialBytes: 0, dir });
  assert.deepEqual(pruneBlobs(cache), { removed: 0, freedBytes: 0, busy: [], leftovers: 0 });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, hex("a")), "x".repeat(100)); // complete, unlocked: removed
  writeFileSync(join(dir, hex("b")), "x".repeat(10)); // being re-checked by a live cm (this process): kept
  writeFileSync(join(dir, `.${hex("b")}.partial`), "x".repeat(5));
  lock(dir, hex("b"), process.pid);
  writeFileSync(join(dir, `.${hex("c")}.partial`), "x".repeat(7)); // a killed download: partial + lock removed
  lock(dir, hex("c"), DEAD);
  lock(dir, hex("f"), DEAD); // a lock alone
  writeFileSync(join(dir, `.${hex("d")}.tmp-${DEAD}`), "m");
  writeFileSync(join(dir, `.${hex("e")}.tmp-${process.pid}`), "m");
  writeFileSync(join(dir, "README"), "not cm's");
  assert.deepEqual(blobSummary(cache), { count: 2, sizeBytes: 110, partials: 2, partialBytes: 12, dir });
  const r = pruneBlobs(cache);
  assert.deepEqual(r, { removed: 1, freedBytes: 107, busy: [{ hex: hex("b"), pid: process.pid }], leftovers: 4 });
  assert.deepEqual(
    readdirSync(dir).sort(),
    [`.${hex("b")}.lock`, `.${hex("b")}.partial`, `.${hex("e")}.tmp-${process.pid}`, "README", hex("b")].sort(),
  );
});
