import assert from "node:assert/strict";
import { test } from "node:test";
import { COMMANDS } from "../../../src/commands.ts";
import { formatHelp, optionLabel, parserOptions } from "../../../src/core/command.ts";
import { describeCommand } from "../../../src/core/completion.ts";

const loaded = await Promise.all(Object.entries(COMMANDS).map(async ([name, c]) => ({ name, c, spec: (await c.load()).command })));

test("every command's spec: its own name, unique short letters, a value placeholder for string options", () => {
  for (const { name, spec } of loaded) {
    assert.equal(spec.name, name);
    const shorts = Object.values(spec.options).flatMap((o) => (o.short ? [o.short] : []));
    assert.deepEqual(shorts, [...new Set(shorts)], name);
    assert.ok(!shorts.includes("h"), `${name}: -h is --help`);
    for (const [flag, o] of Object.entries(spec.options)) {
      assert.match(flag, /^[a-z][a-z0-9-]*$/, `${name} --${flag}`);
      if (o.type === "string") assert.ok(o.value, `${name} --${flag}: a value placeholder`);
      else assert.equal(o.complete, undefined, `${name} --${flag}: a boolean has no value to complete`);
    }
  }
});

test("--help lists every visible option and the parser accepts exactly the declared ones", () => {
  for (const { name, spec } of loaded) {
    const help = formatHelp(spec);
    assert.ok(help.startsWith(`Usage: cm ${name}`), name);
    for (const [flag, o] of Object.entries(spec.options)) {
      assert.equal(help.includes(`  ${optionLabel(flag, o)}`), !o.hidden, `${name} --${flag}`);
    }
    assert.deepEqual(Object.keys(parserOptions(spec.options)), Object.keys(spec.options));
  }
});

test("a flag name completes the same way in every command (the scripts hold one case per name)", () => {
  const seen = new Map<string, string>();
  for (const { name, c, spec } of loaded) {
    if (c.hidden) continue;
    for (const f of describeCommand(spec, c.summary).flags.filter((f) => f.value)) {
      const key = [f.short, f.long].join("|");
      const kind = JSON.stringify(f.complete ?? null);
      assert.equal(seen.get(key) ?? kind, kind, `${name} ${key}`);
      seen.set(key, kind);
    }
  }
});
