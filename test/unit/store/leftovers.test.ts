import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { leftovers } from "../../../src/store/leftovers.ts";

const data = mkdtempSync(join(tmpdir(), "cm-leftovers-"));
after(() => rmSync(data, { recursive: true, force: true }));

test("leftovers: creating/deleting dot-directories with their pid; live when the pid runs", () => {
  for (const d of [
    "p/default",
    "p/.default.lock",
    "p/.default.creating-999999",
    "p/.web.deleting-999998",
    `q/.x.deleting-${process.ppid}`,
    "q/.tmp",
  ]) {
    mkdirSync(join(data, d), { recursive: true });
  }
  const all = leftovers(data);
  assert.deepEqual(
    all.map((l) => [l.projectKey, l.bundle, l.kind, l.pid, l.live]),
    [
      ["p", "default", "creating", 999999, false],
      ["p", "web", "deleting", 999998, false],
      ["q", "x", "deleting", process.ppid, true],
    ],
  );
  assert.equal(leftovers(data, "q").length, 1);
  assert.deepEqual(leftovers(data, "missing"), []);
});
