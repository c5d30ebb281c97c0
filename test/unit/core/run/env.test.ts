import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { mergeEnv, parseEnvArg, parseEnvFile } from "../../../../src/core/run/env.ts";
import { CmError } from "../../../../src/errors.ts";

const host = { HOME: "/home/u", EMPTY: "", TOKEN: "s3cret" };

describe("parseEnvArg", () => {
  test("KEY=VALUE is taken as is, the value may hold '=' and be empty", () => {
    assert.equal(parseEnvArg("A=1", host), "A=1");
    assert.equal(parseEnvArg("A=b=c", host), "A=b=c");
    assert.equal(parseEnvArg("A=", host), "A=");
    assert.equal(parseEnvArg("_x9=y z", host), "_x9=y z");
  });
  test("KEY alone takes the host's value, also an empty one", () => {
    assert.equal(parseEnvArg("TOKEN", host), "TOKEN=s3cret");
    assert.equal(parseEnvArg("EMPTY", host), "EMPTY=");
  });
  test("a KEY not set on the host is an error naming it", () => {
    assert.throws(
      () => parseEnvArg("MISSING", host),
      (e: CmError) => e instanceof CmError && /MISSING is not set/.test(e.message),
    );
  });
  test("invalid names are refused", () => {
    for (const bad of ["", "=x", "1A=x", "A-B=x", "A B=x", "é=x"]) {
      assert.throws(() => parseEnvArg(bad, host), CmError, bad);
    }
    assert.throws(() => parseEnvArg("A=x\0y", host), CmError);
  });
});

describe("parseEnvFile", () => {
  test("lines, comments, blanks, CRLF, KEY from host", () => {
    const text = '# comment\nA=1\n\n  B=two words\r\nTOKEN\n   # indented comment\nC="quoted"\n';
    assert.deepEqual(parseEnvFile(text, "f.env", host), ["A=1", "B=two words", "TOKEN=s3cret", 'C="quoted"']);
  });
  test("errors name file:line, without echoing the line", () => {
    assert.throws(
      () => parseEnvFile("A=1\n\nnot valid secret\n", "dir/f.env", host),
      (e: CmError) =>
        e instanceof CmError &&
        e.message === "dir/f.env:3: is not KEY=VALUE or KEY: invalid variable name" &&
        !e.message.includes("secret"),
    );
    assert.throws(
      () => parseEnvFile("A=1\nUNSET_ONE\n", "f.env", host),
      (e: CmError) => e instanceof CmError && e.message === "f.env:2: UNSET_ONE is not set in your environment",
    );
  });
  test("an empty file gives nothing", () => {
    assert.deepEqual(parseEnvFile("", "f", host), []);
  });
});

describe("mergeEnv", () => {
  test("a later value replaces an earlier one; the rest keep their order", () => {
    assert.deepEqual(mergeEnv(["PATH=/bin", "HOME=/root", "TERM=xterm"], ["HOME=/x", "A=1", "A=2"]), [
      "PATH=/bin",
      "TERM=xterm",
      "HOME=/x",
      "A=2",
    ]);
  });
});
