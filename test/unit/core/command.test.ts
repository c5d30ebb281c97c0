import assert from "node:assert/strict";
import { test } from "node:test";
import { defineCommand, formatHelp, parserOptions, usageLines } from "../../../src/core/command.ts";

const spec = defineCommand({
  name: "run",
  positionals: [
    { name: "PROJECT", optional: true, complete: "project" },
    { name: "BUNDLE", optional: true, complete: "bundle" },
  ],
  rest: { value: "COMMAND [ARG...]", optional: true },
  description: "Start a container.",
  options: {
    memory: { type: "string", value: "SIZE", help: "memory limit" },
    "http-proxy": { type: "boolean", falseForm: true, help: "pass your proxy variables in; on by default" },
    secret: { type: "boolean", hidden: true, help: "not shown" },
    tty: { type: "boolean", short: "t", help: "allocate a terminal" },
  },
  footer: "A footer.",
});

test("usage line: nested optional positionals, [OPTIONS], the part after --", () => {
  assert.deepEqual(usageLines(spec), ["cm run [PROJECT [BUNDLE]] [OPTIONS] [-- COMMAND [ARG...]]"]);
});

test("--help: every visible option once, in order, --NAME[=false] for on-by-default booleans, --help last", () => {
  const help = formatHelp(spec);
  assert.match(help, /^Usage: cm run /);
  const rows = help.split("\n").filter((l) => /^ {2}-/.test(l));
  assert.deepEqual(
    rows.map((l) => l.trim().split(/\s{2,}/)[0]),
    ["--memory SIZE", "--http-proxy[=false]", "-t, --tty", "-h, --help"],
  );
  assert.doesNotMatch(help, /--secret/);
  assert.match(help, /A footer\.\n$/);
});

test("parseArgs options: every declared option (hidden ones too) with its type, short name and multiple", () => {
  assert.deepEqual(parserOptions(spec.options), {
    memory: { type: "string" },
    "http-proxy": { type: "boolean" },
    secret: { type: "boolean" },
    tty: { type: "boolean", short: "t" },
  });
});
