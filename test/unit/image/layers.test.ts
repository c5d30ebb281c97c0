import assert from "node:assert/strict";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { CmError } from "../../../src/errors.ts";
import { applyLayer, entryParts } from "../../../src/image/layers.ts";
import { digestOf, type Entry, tar } from "../../helpers/oci.ts";

const scratch = mkdtempSync(join(tmpdir(), "cm-layers-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
function rootfs(): string {
  const dir = join(scratch, `root-${n++}`, "rootfs");
  mkdirSync(dir, { recursive: true });
  return dir;
}

const apply = (root: string, entries: Entry[] | Buffer, opts: { rootless?: boolean; diffId?: string } = {}) =>
  applyLayer(Readable.from([Buffer.isBuffer(entries) ? entries : tar(entries)]), root, {
    rootless: opts.rootless ?? false,
    what: "layer 1",
    diffId: opts.diffId,
  });

const isHostile = (e: unknown) => e instanceof CmError && e.code === "hostile-layer" && !e.message.includes("\n");

describe("entry paths", () => {
  test("normalised, '..' and absolute paths flagged", () => {
    assert.deepEqual(entryParts("./usr/bin/"), ["usr", "bin"]);
    assert.deepEqual(entryParts("a//b/./c"), ["a", "b", "c"]);
    assert.deepEqual(entryParts("."), []);
    assert.equal(entryParts("../x"), "dotdot");
    assert.equal(entryParts("a/../../x"), "dotdot");
    assert.equal(entryParts("/etc/passwd"), "absolute");
    assert.equal(entryParts("a\0b"), "dotdot");
  });
});

describe("applyLayer", () => {
  test("files, dirs, symlinks, hard links, modes; gzip, zstd and plain give the same tree", async () => {
    const entries: Entry[] = [
      { path: "etc", type: "dir" },
      { path: "etc/f", content: "hello", mode: 0o640 },
      { path: "etc/l", type: "symlink", linkname: "f" },
      { path: "etc/h", type: "hardlink", linkname: "etc/f" },
      { path: "ro", type: "dir", mode: 0o555 },
      { path: "ro/inside", content: "x" },
      { path: "dev/null", type: "char" },
      { path: "deep/er/file", content: "auto parents" },
    ];
    const raw = tar(entries);
    for (const bytes of [raw, gzipSync(raw), zstdCompressSync(raw)]) {
      const root = rootfs();
      const r = await apply(root, bytes, { diffId: digestOf(raw) });
      assert.equal(r.skippedDevices, 1);
      assert.equal(readFileSync(join(root, "etc/f"), "utf8"), "hello");
      assert.equal(statSync(join(root, "etc/f")).mode & 0o7777, 0o640);
      assert.equal(readlinkSync(join(root, "etc/l")), "f");
      assert.equal(statSync(join(root, "etc/h")).ino, statSync(join(root, "etc/f")).ino);
      assert.equal(statSync(join(root, "ro")).mode & 0o7777, 0o555);
      assert.equal(readFileSync(join(root, "ro/inside"), "utf8"), "x");
      assert.equal(existsSync(join(root, "dev/null")), false);
      assert.equal(readFileSync(join(root, "deep/er/file"), "utf8"), "auto parents");
    }
  });

  test("rootless: directories stay writable for the owner", async () => {
    const root = rootfs();
    await apply(root, [{ path: "ro", type: "dir", mode: 0o555 }], { rootless: true });
    assert.equal(statSync(join(root, "ro")).mode & 0o777, 0o755);
  });

  test("whiteouts: .wh.NAME removes a file or a tree; an opaque dir keeps only this layer's entries", async () => {
    const root = rootfs();
    await apply(root, [
      { path: "a", type: "dir" },
      { path: "a/old1", content: "1" },
      { path: "a/sub", type: "dir" },
      { path: "a/sub/x", content: "x" },
      { path: "b", type: "dir" },
      { path: "b/gone", content: "g" },
      { path: "b/tree", type: "dir" },
      { path: "b/tree/t", content: "t" },
      { path: "b/stays", content: "s" },
      { path: "linkdir", type: "symlink", linkname: "/b" },
    ]);
    await apply(root, [
      { path: "a", type: "dir" },
      { path: "a/new-before", content: "n" },
      { path: "a/.wh..wh..opq" },
      { path: "a/new-after", content: "m" },
      { path: "b/.wh.gone" },
      { path: "b/.wh.tree" },
      { path: ".wh.linkdir" },
      { path: "b/.wh.never-existed" },
    ]);
    assert.deepEqual(readdirSync(join(root, "a")).sort(), ["new-after", "new-before"]);
    assert.deepEqual(readdirSync(join(root, "b")).sort(), ["stays"]);
    assert.equal(existsSync(join(root, "linkdir")), false);
  });

  test("a file replaces a directory and a directory replaces a file or symlink", async () => {
    const root = rootfs();
    await apply(root, [
      { path: "x", type: "dir" },
      { path: "x/in", content: "1" },
      { path: "y", content: "file" },
      { path: "z", type: "symlink", linkname: "/etc" },
    ]);
    await apply(root, [
      { path: "x", content: "now a file" },
      { path: "y", type: "dir" },
      { path: "z", type: "dir" },
      { path: "z/f", content: "in a real dir" },
    ]);
    assert.equal(readFileSync(join(root, "x"), "utf8"), "now a file");
    assert.ok(lstatSync(join(root, "y")).isDirectory());
    assert.ok(lstatSync(join(root, "z")).isDirectory());
    assert.equal(readFileSync(join(root, "z/f"), "utf8"), "in a real dir");
  });

  test("symlinks on the way are followed inside the rootfs, never out of it", async () => {
    const root = rootfs();
    const outside = join(scratch, `outside-${n}`);
    await apply(root, [
      { path: "abs", type: "symlink", linkname: outside },
      { path: "abs/pwned", content: "no" },
      { path: "up", type: "symlink", linkname: "../../../../../../.." },
      { path: "up/escaped", content: "no" },
      { path: "file-link", type: "symlink", linkname: "/etc/passwd" },
      { path: "file-link", content: "replaces the link, not /etc/passwd" },
    ]);
    assert.equal(existsSync(outside), false);
    assert.equal(readFileSync(join(root, outside, "pwned"), "utf8"), "no");
    assert.equal(readFileSync(join(root, "escaped"), "utf8"), "no");
    assert.equal(existsSync(join(scratch, "escaped")), false);
    assert.ok(lstatSync(join(root, "file-link")).isFile());
    assert.notEqual(readFileSync("/etc/passwd", "utf8"), "replaces the link, not /etc/passwd");
  });

  test("hostile entries are refused with a one-line error", async () => {
    const cases: Entry[][] = [
      [{ path: "../evil", content: "x" }],
      [{ path: "a/../../evil", content: "x" }],
      [{ path: "/abs", content: "x" }],
      [{ path: "h", type: "hardlink", linkname: "../../etc/passwd" }],
      [{ path: "h", type: "hardlink", linkname: "/etc/passwd" }],
      [
        { path: "d", type: "symlink", linkname: "/etc" },
        { path: "h", type: "hardlink", linkname: "d/passwd" },
      ],
      [
        { path: "dir", type: "dir" },
        { path: "h", type: "hardlink", linkname: "dir" },
      ],
      [{ path: "x/.wh..." }],
      [{ path: ".wh..." }],
      [{ path: ".wh.." }],
    ];
    for (const entries of cases) {
      const root = rootfs();
      mkdirSync(join(root, "x"));
      await assert.rejects(apply(root, entries), isHostile, JSON.stringify(entries));
      // a whiteout of ".." or "." must not remove the rootfs or what is around it
      assert.ok(existsSync(join(root, "x")));
    }
  });

  test("a diff id mismatch, a truncated archive or garbage are errors", async () => {
    const raw = tar([{ path: "f", content: "x".repeat(5000) }]);
    await assert.rejects(
      apply(rootfs(), raw, { diffId: digestOf(Buffer.from("other")) }),
      (e: unknown) => e instanceof CmError && e.code === "digest-mismatch",
    );
    await assert.rejects(apply(rootfs(), raw.subarray(0, 1500)), (e: unknown) => e instanceof CmError && e.code === "bad-layer");
    await assert.rejects(apply(rootfs(), gzipSync(raw).subarray(0, 40)), (e: unknown) => e instanceof CmError && e.code === "bad-layer");
    await assert.rejects(apply(rootfs(), Buffer.alloc(512, 7)), (e: unknown) => e instanceof CmError && e.code === "bad-layer");
  });
});
