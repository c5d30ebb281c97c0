import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatBytes, parseSize } from "../../../src/core/size.ts";
import { CmError } from "../../../src/errors.ts";

describe("parseSize", () => {
  test("docker's suffixes, any case, binary units", () => {
    const cases: [string, number][] = [
      ["512m", 512 * 1024 ** 2],
      ["1g", 1024 ** 3],
      ["1.5G", 1.5 * 1024 ** 3],
      ["268435456", 268435456],
      ["64k", 65536],
      ["64K", 65536],
      ["2gb", 2 * 1024 ** 3],
      ["10MiB", 10 * 1024 ** 2],
      ["100b", 100],
      ["1t", 1024 ** 4],
    ];
    for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
  });
  test("refuses nonsense with a CmError naming the value", () => {
    for (const text of ["banana", "-1", "0", "", " 5m", "5 m", "1.2.3m", "5x", "m", "1e9", "0.0001k"]) {
      assert.throws(
        () => parseSize(text, "--memory"),
        (e: unknown) => e instanceof CmError && e.message.includes("--memory"),
        text,
      );
    }
  });
});

test("formatBytes", () => {
  assert.equal(formatBytes(512), "512B");
  assert.equal(formatBytes(1536), "1.5KiB");
  assert.equal(formatBytes(178 * 1024 ** 2), "178MiB");
});
