import assert from "node:assert/strict";
import { test } from "node:test";
import { commandHint, runCommand } from "../../../../src/core/run/command.ts";

const both = { entrypoint: ["/entry.sh", "--flag"], cmd: ["serve", "--port", "80"] };

test("no ARGS, no flag: Entrypoint + Cmd", () => {
  assert.deepEqual(runCommand(both, { command: [] }), {
    args: ["/entry.sh", "--flag", "serve", "--port", "80"],
    origin: "image-entrypoint",
  });
  assert.deepEqual(runCommand({ entrypoint: [], cmd: ["sh"] }, { command: [] }), { args: ["sh"], origin: "image-cmd" });
  assert.deepEqual(runCommand({ entrypoint: ["/entry.sh"], cmd: [] }, { command: [] }), {
    args: ["/entry.sh"],
    origin: "image-entrypoint",
  });
});

test("ARGS replace Cmd only and follow the Entrypoint", () => {
  assert.deepEqual(runCommand(both, { command: ["ls", "-l"] }), { args: ["/entry.sh", "--flag", "ls", "-l"], origin: "image-entrypoint" });
  assert.deepEqual(runCommand({ entrypoint: [], cmd: ["sh"] }, { command: ["ls"] }), { args: ["ls"], origin: "command" });
});

test("--entrypoint replaces the Entrypoint and drops the image's Cmd (as Docker)", () => {
  assert.deepEqual(runCommand(both, { command: [], entrypoint: "/bin/sh" }), { args: ["/bin/sh"], origin: "entrypoint-flag" });
  assert.deepEqual(runCommand(both, { command: ["-c", "echo hi"], entrypoint: "/bin/sh" }), {
    args: ["/bin/sh", "-c", "echo hi"],
    origin: "entrypoint-flag",
  });
  // one executable, never split on spaces
  assert.deepEqual(runCommand(both, { command: [], entrypoint: "sh -c" })?.args, ["sh -c"]);
});

test("--entrypoint '' clears it: ARGS alone, or nothing (the caller's default shell)", () => {
  assert.deepEqual(runCommand(both, { command: ["cat", "/etc/os-release"], entrypoint: "" }), {
    args: ["cat", "/etc/os-release"],
    origin: "command",
  });
  assert.equal(runCommand(both, { command: [], entrypoint: "" }), undefined);
});

test("no image defaults (a bundle from debian, dir:, an old image bundle without them)", () => {
  assert.equal(runCommand(undefined, { command: [] }), undefined);
  assert.deepEqual(runCommand(undefined, { command: ["true"] }), { args: ["true"], origin: "command" });
  assert.deepEqual(runCommand(undefined, { command: ["x"], entrypoint: "/bin/env" }), {
    args: ["/bin/env", "x"],
    origin: "entrypoint-flag",
  });
  assert.equal(runCommand({ entrypoint: [], cmd: [] }, { command: [] }), undefined);
});

test("hints name where the missing command came from", () => {
  assert.match(commandHint("image-entrypoint", "/entry.sh"), /image's entrypoint.*--entrypoint/);
  assert.match(commandHint("entrypoint-flag", "sh -c"), /one executable/);
  assert.match(commandHint("entrypoint-flag", "nope"), /--entrypoint name/);
  assert.match(commandHint("image-cmd", "x"), /default command/);
  assert.match(commandHint("command", "x"), /check the name/);
});
