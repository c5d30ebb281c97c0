import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { treeSize } from "../../../src/rootfs/size.ts";

test("treeSize: what du -s reports, hard links counted once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-size-"));
  try {
    mkdirSync(join(dir, "a/b"), { recursive: true });
    writeFileSync(join(dir, "a/big"), Buffer.alloc(1 << 20, 1));
    linkSync(join(dir, "a/big"), join(dir, "a/b/same"));
    writeFileSync(join(dir, "small"), "x");
    const du = Number(execFileSync("du", ["-s", "-B1", dir], { encoding: "utf8" }).split("\t")[0]);
    const size = await treeSize(dir);
    assert.equal(size, du);
    assert.ok(size >= 1 << 20 && size < 2 << 20, `one copy of the 1 MiB file: ${size}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
