import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { sha256Hex } from "../../../src/core/sha256.ts";

test("sha256Hex is node:crypto's sha256 of the UTF-8 bytes (approval records made with node:crypto stay valid)", () => {
  const inputs = ["", "abc", "/home/u/proj/cm.toml", "Mein Projekt (ä)", "日本語/プロジェクト", "emoji 🚀 \u{10FFFF}", "x".repeat(100_000)];
  for (const text of inputs) {
    assert.equal(sha256Hex(text), createHash("sha256").update(text, "utf8").digest("hex"), JSON.stringify(text.slice(0, 40)));
  }
  // FIPS 180-2's first example
  assert.equal(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});
