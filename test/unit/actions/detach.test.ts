import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { startLook } from "../../../src/actions/detach.ts";
import type { ExitRecord } from "../../../src/store/runs.ts";

/** A run directory whose state moves on after the `after`-th read: as a container that starts and ends between two reads. */
function world(
  before: { pid?: number; exit?: ExitRecord; dir?: boolean },
  after: { pid?: number; exit?: ExitRecord; dir?: boolean },
  at = 1,
) {
  let reads = 0;
  const now = () => (reads++ < at ? before : after);
  return { exit: () => now().exit, pid: () => now().pid, dirExists: () => now().dir ?? true };
}

const ended: ExitRecord = { status: 4, ended: "2026-11-30T00:00:00Z" };

describe("startLook: cm run -d waiting for its container", () => {
  test("pid file: started; exit without one: failed; neither: waiting; no run directory: gone", () => {
    assert.deepEqual(startLook(world({ pid: 42 }, { pid: 42 })), { kind: "started" });
    assert.deepEqual(startLook(world({ exit: ended }, { exit: ended })), { kind: "failed", exit: ended });
    assert.deepEqual(startLook(world({}, {})), { kind: "waiting" });
    assert.deepEqual(startLook(world({ dir: false }, { dir: false })), { kind: "gone" });
  });

  test("started and ended between two reads: started (both files there), never a failed start", () => {
    // after the first read the runtime writes the pid file, the command ends, the monitor writes the exit
    assert.deepEqual(startLook(world({}, { pid: 42, exit: ended })), { kind: "started" });
    // and at any later point of the look
    for (let at = 0; at < 4; at++) assert.notEqual(startLook(world({}, { pid: 42, exit: ended }, at)).kind, "failed");
  });
});
