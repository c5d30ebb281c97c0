import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { findCommand } from "../../../src/rootfs/command.ts";

function setup() {
  const root = mkdtempSync(join(tmpdir(), "cm-cmd-"));
  const project = mkdtempSync(join(tmpdir(), "cm-proj-"));
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  symlinkSync("usr/bin", join(root, "bin"));
  writeFileSync(join(root, "usr/bin/ok"), "");
  chmodSync(join(root, "usr/bin/ok"), 0o755);
  writeFileSync(join(root, "usr/bin/plain"), "");
  symlinkSync("/usr/bin/ok", join(root, "usr/bin/alias"));
  writeFileSync(join(project, "script.sh"), "");
  chmodSync(join(project, "script.sh"), 0o700);
  return {
    root,
    lookup: { cwd: "/project", path: "/usr/local/bin:/usr/bin:/bin", mounts: [{ destination: "/project", source: project }] },
  };
}

test("finds commands on PATH, through symlinks kept inside the rootfs", () => {
  const { root, lookup } = setup();
  assert.equal(findCommand(root, "ok", lookup), "found");
  assert.equal(findCommand(root, "alias", lookup), "found");
  assert.equal(findCommand(root, "/bin/ok", lookup), "found");
});

test("127 and 126 cases", () => {
  const { root, lookup } = setup();
  assert.equal(findCommand(root, "missing", lookup), "not-found");
  assert.equal(findCommand(root, "/nope/x", lookup), "not-found");
  assert.equal(findCommand(root, "", lookup), "not-found");
  assert.equal(findCommand(root, "plain", lookup), "not-executable");
  assert.equal(findCommand(root, "/usr/bin", lookup), "not-executable");
});

test("paths in /project and relative to the working directory resolve through the bind mount", () => {
  const { root, lookup } = setup();
  assert.equal(findCommand(root, "./script.sh", lookup), "found");
  assert.equal(findCommand(root, "/project/script.sh", lookup), "found");
  assert.equal(findCommand(root, "./other.sh", lookup), "not-found");
});
