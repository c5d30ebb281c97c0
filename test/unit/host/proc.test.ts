import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { startedBy } from "../../../src/host/pid.ts";

test("startedBy: a process started after the given time is not the one a pid file named", async () => {
  const before = Date.now() - 5000;
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  try {
    await new Promise((r) => setTimeout(r, 50));
    const pid = child.pid as number;
    assert.equal(startedBy(pid, Date.now()), true); // written after it started: it is the one
    assert.equal(startedBy(pid, before), false); // written 5 s before it started: a reused pid
    assert.equal(startedBy(process.pid, Date.now()), true);
  } finally {
    child.kill();
  }
  await new Promise((r) => child.on("close", r));
  assert.equal(startedBy(child.pid as number, Date.now()), false); // gone
});
