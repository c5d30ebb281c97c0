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

test("boolean options with Podman's --NAME=true|false spelling", () => {
  const o = { ...opts, env: { type: "string" as const, short: "e", multiple: true }, "http-proxy": { type: "boolean" as const } };
  assert.equal(parse("run", ["--http-proxy=false"], o).values["http-proxy"], false);
  assert.equal(parse("run", ["--http-proxy=true"], o).values["http-proxy"], true);
  assert.equal(parse("run", ["--http-proxy"], o).values["http-proxy"], true);
  assert.equal(parse("run", [], o).values["http-proxy"], undefined);
  // the later spelling wins
  assert.equal(parse("run", ["--http-proxy", "--http-proxy=false"], o).values["http-proxy"], false);
  // everything after -- is left alone
  const p = parse("run", ["--", "--http-proxy=false"], o);
  assert.equal(p.values["http-proxy"], undefined);
  assert.deepEqual(p.rest, ["--http-proxy=false"]);
  // so is the value of a string option: node will not take it, as any value starting with -
  for (const argv of [
    ["--memory", "--http-proxy=false"],
    ["-e", "--http-proxy=true"],
  ]) {
    assert.throws(
      () => parse("run", argv, o),
      (e: unknown) => e instanceof CmError && e.message === `run: ${argv[0]} ${argv[1]}: a value starting with "-" looks like an option`,
    );
  }
  assert.deepEqual(parse("run", ["--env=--http-proxy=true"], o).values.env, ["--http-proxy=true"]);
  assert.throws(
    () => parse("run", ["--http-proxy=no"], o),
    (e: unknown) => e instanceof CmError && e.message === "run: --http-proxy=no: the value must be true or false",
  );
  // every boolean option takes them
  assert.equal(parse("run", ["--tty=false"], o).values.tty, false);
});

test("node's parseArgs wording is not shown: an unknown option is named; a value starting with - says how to give it", () => {
  const withPositionals = parse.bind(null, "ps");
  assert.throws(
    () => withPositionals(["--bogus"], opts),
    (e: unknown) => e instanceof CmError && e.message === "ps: unknown option --bogus" && e.hint === "see cm ps --help",
  );
  const withEnv = { ...opts, env: { type: "string" as const, short: "e" } };
  assert.throws(
    () => parse("run", ["-e", "-X"], withEnv),
    (e: unknown) => e instanceof CmError && e.hint === "if it is the value, write --env=-X",
  );
  assert.throws(
    () => parse("run", ["-x"], opts),
    (e: unknown) => e instanceof CmError && e.message === "run: unknown option -x",
  );
  assert.throws(
    () => parse("run", ["--memory", "-1"], opts),
    (e: unknown) =>
      e instanceof CmError &&
      e.message === 'run: --memory -1: a value starting with "-" looks like an option' &&
      e.hint === "if it is the value, write --memory=-1",
  );
});
