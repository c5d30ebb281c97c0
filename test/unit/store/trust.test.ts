import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { approve, lineDiff, revoke, trustState } from "../../../src/store/trust.ts";

const uid = process.getuid?.() ?? 0;

test("lineDiff: kept, removed before added", () => {
  assert.deepEqual(lineDiff("a\nb\nc", "a\nx\nc"), ["  a", "- b", "+ x", "  c"]);
  assert.deepEqual(lineDiff("", "a"), ["- ", "+ a"]);
  assert.deepEqual(lineDiff("a\nb", "a\nb"), ["  a", "  b"]);
  assert.deepEqual(lineDiff("a\nb\nc\nd", "a\nc\nd\ne"), ["  a", "- b", "  c", "  d", "+ e"]);
});

test("lineDiff escapes control characters: the text cannot rewrite what the terminal shows", () => {
  assert.deepEqual(lineDiff("a", 'a\nruntime = "/x" # \u009b2K\u009bG+ ok'), ["  a", '+ runtime = "/x" # \\u009b2K\\u009bG+ ok']);
});

test("lineDiff: memory stays bounded for a huge file (a container can write one): removed then added", () => {
  const before = Array.from({ length: 3000 }, (_, i) => `old ${i}`).join("\n");
  const after = `head\n${Array.from({ length: 300_000 }, (_, i) => `# ${i}`).join("\n")}`;
  const out = lineDiff(`head\n${before}`, after);
  assert.equal(out[0], "  head");
  assert.equal(out.filter((l) => l.startsWith("- ")).length, 3000);
  assert.equal(out.filter((l) => l.startsWith("+ ")).length, 300_000);
  assert.equal(out[1], "- old 0");
  assert.equal(out[3001], "+ # 0");
});

test("trustState: new, trusted, changed, keyed by path; revoke; CM_TRUST_ALL=1 is off", async () => {
  const config = mkdtempSync(join(tmpdir(), "cm-trust-"));
  const place = { config, uid, env: {} };
  assert.equal((await trustState(place, "/p/cm.toml", "x")).state, "new");
  await approve(place, "/p/cm.toml", "x");
  assert.equal((await trustState(place, "/p/cm.toml", "x")).state, "trusted");
  assert.equal((await trustState(place, "/p/cm.toml", "y")).state, "changed");
  assert.equal((await trustState(place, "/q/cm.toml", "x")).state, "new");
  assert.equal((await trustState({ ...place, env: { CM_TRUST_ALL: "1" } }, "/q/cm.toml", "x")).state, "off");
  assert.equal(await revoke(place, "/p/cm.toml"), true);
  assert.equal(await revoke(place, "/p/cm.toml"), false);
  assert.equal((await trustState(place, "/p/cm.toml", "x")).state, "new");
});

test("trustState: a config directory others can write is refused", async () => {
  const config = mkdtempSync(join(tmpdir(), "cm-trust-"));
  mkdirSync(join(config, "trusted"), { mode: 0o777 });
  const { chmodSync } = await import("node:fs");
  chmodSync(join(config, "trusted"), 0o777);
  writeFileSync(join(config, "x"), "");
  await assert.rejects(trustState({ config, uid, env: {} }, "/p/cm.toml", "x"), /not a directory owned by you and closed to others/);
});
