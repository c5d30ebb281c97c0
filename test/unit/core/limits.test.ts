import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLimitEnforceable } from "../../../src/core/limits.ts";
import { CmError } from "../../../src/errors.ts";

test("root: limits are always enforceable", () => {
  checkLimitEnforceable("memory", false, { version: "v1", delegated: [] });
});

test("rootless on cgroup v1: refused, saying why and what would help", () => {
  assert.throws(
    () => checkLimitEnforceable("memory", true, { version: "v1", delegated: [] }),
    (e: unknown) => e instanceof CmError && /--memory.*cgroup v1/.test(e.message) && /cgroup v2|root/.test(e.hint ?? ""),
  );
});

test("rootless on cgroup v2: only with the controller delegated", () => {
  assert.throws(() => checkLimitEnforceable("memory", true, { version: "v2", delegated: ["cpu", "pids"] }), /not delegated/);
  checkLimitEnforceable("memory", true, { version: "v2", delegated: ["cpu", "memory", "pids"] });
  assert.throws(() => checkLimitEnforceable("pids", true, { version: "v2", delegated: ["memory"] }), /--pids-limit/);
});
