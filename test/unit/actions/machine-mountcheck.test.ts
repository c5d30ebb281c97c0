import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { runtimeFailure } from "../../../src/actions/machine.ts";
import { RUNTIME_LOG } from "../../../src/core/run/startup.ts";

test("runtimeFailure: a failed mount check is cm's own line, not runc's hook error", () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-rf-"));
  const msg =
    "runc run failed: unable to start container process: error during container init: error running hook #0: error running hook: exit status 1, stdout: , stderr: cm: /x is not what cm checked: its source was replaced while the container started\n";
  writeFileSync(join(dir, RUNTIME_LOG), `${JSON.stringify({ level: "error", msg, time: "2026-01-01T00:00:00Z" })}\n`);
  const err = runtimeFailure(dir, "runc");
  assert.equal(err?.message, "the container did not start: /x is not what cm checked: its source was replaced while the container started");
  assert.equal(err?.exitCode, 125);
});
