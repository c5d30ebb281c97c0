import assert from "node:assert/strict";
import { test } from "node:test";
import { parse } from "../../../src/cli/args.ts";
import { CmError } from "../../../src/errors.ts";

const opts = { memory: { type: "string" as const }, tty: { type: "boolean" as const, short: "t" } };

test("splits at --: options before, the command after (its flags untouched)", () => {
  const p = parse("run", ["dev", "--memory", "1g", "--", "ls", "--memory", "-t"], opts);
  assert.deepEqual(p.positionals, ["dev"]);
  assert.equal(p.values.memory, "1g");
  assert.deepEqual(p.rest, ["ls", "--memory", "-t"]);
});

test("unknown flags and missing values are CmErrors pointing at --help", () => {
  for (const argv of [["--bogus"], ["--memory"], ["-x"], ["--tty=yes"]]) {
    assert.throws(
      () => parse("run", argv, opts),
      (e: unknown) => e instanceof CmError && e.message.startsWith("run: ") && e.hint === "see cm run --help",
      argv.join(" "),
    );
  }
});
