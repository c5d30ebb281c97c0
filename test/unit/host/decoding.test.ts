import assert from "node:assert/strict";
import { test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { PATH_VARIABLES, refuseUndecodable, undecodableArgument, undecodableVariable } from "../../../src/host/decoding.ts";

const nul = (...parts: (string | Buffer)[]) =>
  Buffer.concat(parts.flatMap((p) => [Buffer.isBuffer(p) ? p : Buffer.from(p), Buffer.from([0])]));
const bad = Buffer.concat([Buffer.from("/tmp/data"), Buffer.from([0xff])]);

test("an argument whose bytes are not UTF-8 is found; a real U+FFFD is not", () => {
  const cmdline = nul("node", "--", "/x/dist/main.js", "run", "-v", Buffer.concat([bad, Buffer.from(":/d")]), "--", "true");
  assert.equal(undecodableArgument(["run", "-v", "/tmp/data\uFFFD:/d", "--", "true"], cmdline), 2);
  const real = nul("node", "main.js", "run", "-v", "/tmp/data\uFFFD:/d");
  assert.equal(undecodableArgument(["run", "-v", "/tmp/data\uFFFD:/d"], real), undefined);
  assert.equal(undecodableArgument(["run"], nul("node", "main.js", "run")), undefined);
  assert.equal(undecodableArgument(["a", "b", "c"], nul("b")), undefined, "a command line too short to compare");
});

test("a path variable whose value is not UTF-8 is found; others and valid ones are not", () => {
  const environ = nul("LANG=C", Buffer.concat([Buffer.from("CM_HOME="), bad]), "HOME=/root", Buffer.concat([Buffer.from("OTHER="), bad]));
  assert.equal(undecodableVariable(PATH_VARIABLES, environ), "CM_HOME");
  assert.equal(undecodableVariable(["HOME", "OTHER2"], environ), undefined);
  assert.equal(undecodableVariable(["HOME"], nul("HOME=/h\uFFFD")), undefined);
});

test("refuseUndecodable reads nothing and passes when no value holds U+FFFD", () => {
  assert.doesNotThrow(() => refuseUndecodable(["run", "--", "true"], { HOME: "/root", PATH: "/bin" }));
  // a U+FFFD that is not on this process's command line is taken as undecodable, never let through
  assert.throws(
    () => refuseUndecodable(["x\uFFFD"], {}),
    (e: unknown) => e instanceof CmError && /not valid UTF-8/.test(e.message),
  );
});
