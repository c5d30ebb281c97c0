import assert from "node:assert/strict";
import { test } from "node:test";
import { parseSecurityOpts } from "../../../src/core/security-opt.ts";
import { CmError } from "../../../src/errors.ts";

test("--security-opt: default, unconfined, a file; the last one wins", () => {
  assert.deepEqual(parseSecurityOpts([]), { seccomp: { kind: "default" } });
  assert.deepEqual(parseSecurityOpts(["seccomp=unconfined"]), { seccomp: { kind: "unconfined" } });
  assert.deepEqual(parseSecurityOpts(["seccomp=/p/x.json"]), { seccomp: { kind: "file", path: "/p/x.json" } });
  assert.deepEqual(parseSecurityOpts(["seccomp=unconfined", "seccomp=a=b.json"]), { seccomp: { kind: "file", path: "a=b.json" } });
});

test("--security-opt: unknown keys and empty values are one-line errors", () => {
  for (const v of ["apparmor=unconfined", "seccomp", "seccomp=", "no-new-privileges", "label=disable"]) {
    assert.throws(
      () => parseSecurityOpts([v]),
      (e: unknown) => e instanceof CmError && e.exitCode === 125 && !e.message.includes("\n"),
      v,
    );
  }
});
