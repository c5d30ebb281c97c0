import assert from "node:assert/strict";
import { test } from "node:test";
import { idInside, OVERFLOW_ID } from "../../../src/image/layer.ts";

test("no mapping (a root bundle): ids stay as they are", () => {
  assert.equal(idInside(0, undefined), 0);
  assert.equal(idInside(1000, []), 1000);
});

test("a rootless bundle's single mapping: the user's files are root's inside, others are nobody", () => {
  const m = [{ containerID: 0, hostID: 1001, size: 1 }];
  assert.equal(idInside(1001, m), 0);
  assert.equal(idInside(0, m), OVERFLOW_ID);
  assert.equal(idInside(1002, m), OVERFLOW_ID);
});

test("a subordinate range (0 -> uid, 1..65536 -> subuid_start..): subuid_start+N-1 is N inside", () => {
  const m = [
    { containerID: 0, hostID: 1001, size: 1 },
    { containerID: 1, hostID: 100_000, size: 65_536 },
  ];
  assert.equal(idInside(1001, m), 0);
  assert.equal(idInside(100_000, m), 1);
  assert.equal(idInside(100_000 + 42 - 1, m), 42);
  assert.equal(idInside(100_000 + 65_535, m), 65_536);
  assert.equal(idInside(100_000 + 65_536, m), OVERFLOW_ID);
});

test("writeLayer: sorted entries, times clamped, symlinks stored as links (never followed), same digest twice", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, utimesSync, rmSync, readFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { gunzipSync } = await import("node:zlib");
  const { writeLayer } = await import("../../../src/image/layer.ts");
  const { readTar } = await import("../../../src/tar/reader.ts");
  const dir = mkdtempSync(join(tmpdir(), "cm-layer-"));
  try {
    const tree = join(dir, "tree");
    mkdirSync(join(tree, "b"), { recursive: true });
    writeFileSync(join(tree, "b", "z.txt"), "zz");
    writeFileSync(join(tree, "a.txt"), "a");
    symlinkSync("/etc/passwd", join(tree, "b", "link"));
    utimesSync(join(tree, "a.txt"), 2_000_000_000, 2_000_000_000);
    const trees = [{ dir: tree, at: "", uid: () => 0, gid: () => 0 }];
    const one = await writeLayer(trees, 1_000_000_000, join(dir, "one.gz"));
    const two = await writeLayer(trees, 1_000_000_000, join(dir, "two.gz"));
    assert.equal(one.digest, two.digest);
    assert.equal(one.diffId, two.diffId);
    const seen: string[] = [];
    const raw = gunzipSync(readFileSync(join(dir, "one.gz")));
    for await (const e of readTar(
      (async function* () {
        yield raw;
      })(),
    )) {
      seen.push(`${e.path} ${e.type} ${e.mtime <= 1_000_000_000} ${e.uid} ${e.linkpath}`);
      for await (const _ of e.body) {
        // drain
      }
    }
    assert.deepEqual(seen, ["a.txt file true 0 ", "b/ directory true 0 ", "b/link symlink true 0 /etc/passwd", "b/z.txt file true 0 "]);
    assert.ok(!raw.includes(Buffer.from("root:x:0:0")), "the link's target is not read");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("writeLayer refuses a name that is not valid UTF-8 in one error, never exporting its U+FFFD form", async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { writeLayer } = await import("../../../src/image/layer.ts");
  const { CmError } = await import("../../../src/errors.ts");
  const dir = mkdtempSync(join(tmpdir(), "cm-layer-"));
  try {
    const tree = join(dir, "tree");
    mkdirSync(tree);
    writeFileSync(Buffer.concat([Buffer.from(`${tree}/bad`), Buffer.from([0xff])]), "x");
    writeFileSync(join(tree, "bad\uFFFD"), "another file");
    const trees = [{ dir: tree, at: "", uid: () => 0, gid: () => 0 }];
    await assert.rejects(
      writeLayer(trees, 1_000_000_000, join(dir, "one.gz")),
      (e: unknown) => e instanceof CmError && /bad\\xff: its name is not valid UTF-8/.test(e.message),
    );
    // a link whose target is not UTF-8 is refused too, never stored with U+FFFD in its target
    rmSync(Buffer.concat([Buffer.from(`${tree}/bad`), Buffer.from([0xff])]));
    symlinkSync(Buffer.concat([Buffer.from("lib"), Buffer.from([0xff])]), join(tree, "weird"));
    await assert.rejects(
      writeLayer(trees, 1_000_000_000, join(dir, "two.gz")),
      (e: unknown) => e instanceof CmError && /the link .*weird: its target "lib\\xff" is not valid UTF-8/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
