import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { CmError } from "../../../src/errors.ts";
import { detectCompression } from "../../../src/tar/decompress.ts";
import { archivePath, extractTar } from "../../../src/tar/extract.ts";
import { digestOf, type Entry, tar } from "../../helpers/oci.ts";

const base = mkdtempSync(join(tmpdir(), "cm-extract-"));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;

/** A fresh root and, next to it, an "outside" directory holding a file that must never change. */
function place(): { root: string; outside: string; secret: string } {
  const dir = join(base, String(n++));
  const root = join(dir, "rootfs");
  const outside = join(dir, "outside");
  mkdirSync(root, { recursive: true });
  mkdirSync(outside, { recursive: true });
  const secret = join(outside, "secret");
  writeFileSync(secret, "untouched\n");
  return { root, outside, secret };
}

function extract(root: string, data: Buffer, opts: { rootless?: boolean; whiteouts?: boolean; diffId?: string } = {}) {
  return extractTar(Readable.from([data]), root, {
    rootless: opts.rootless ?? false,
    whiteouts: opts.whiteouts ?? false,
    diffId: opts.diffId,
    what: "test archive",
  });
}

const isUnsafe = (e: unknown) => e instanceof CmError && e.code === "unsafe-archive" && !e.message.includes("\n");
const isBad = (e: unknown) => e instanceof CmError && e.code === "bad-archive" && !e.message.includes("\n");

function assertOutsideUntouched(p: { outside: string; secret: string }, names = ["secret"]): void {
  assert.equal(readFileSync(p.secret, "utf8"), "untouched\n");
  assert.equal(statSync(p.secret).nlink, 1);
  assert.deepEqual(spawnSync("ls", ["-A", p.outside], { encoding: "utf8" }).stdout.trim().split("\n"), names);
}

describe("archivePath", () => {
  test("normalised; '..', absolute paths and NUL flagged", () => {
    assert.deepEqual(archivePath("./etc/passwd"), ["etc", "passwd"]);
    assert.deepEqual(archivePath("a//b/./c"), ["a", "b", "c"]);
    assert.deepEqual(archivePath("./"), []);
    assert.deepEqual(archivePath("."), []);
    assert.equal(archivePath("../etc"), "dotdot");
    assert.equal(archivePath("a/../../b"), "dotdot");
    assert.equal(archivePath("/etc/passwd"), "absolute");
    assert.equal(archivePath("a\0b"), "dotdot");
  });
});

describe("detectCompression", () => {
  test("by magic bytes", () => {
    assert.equal(detectCompression(gzipSync("x")), "gzip");
    assert.equal(detectCompression(zstdCompressSync("x")), "zstd");
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1])), "xz");
    assert.equal(detectCompression(Buffer.from("./etc\0")), "none");
  });
});

const ordinary: Entry[] = [
  { path: "./", type: "dir", mode: 0o755 },
  { path: "./etc/", type: "dir", mode: 0o755 },
  { path: "./etc/hostname", content: "box\n", mode: 0o644, uid: 1234, gid: 2345 },
  { path: "./usr/bin/tool", content: "#!/bin/sh\n", mode: 0o4755 },
  { path: "./bin", type: "symlink", linkname: "usr/bin" },
  { path: "./usr/bin/tool2", type: "hardlink", linkname: "./usr/bin/tool" },
  { path: "./locked/", type: "dir", mode: 0o500 },
  { path: "./locked/inside", content: "in a read-only directory\n" },
];

describe("extractTar: ordinary archives", () => {
  test("files, directories, symlinks, hard links, modes, owners and times", async () => {
    const p = place();
    const r = await extract(p.root, tar(ordinary));
    assert.equal(r.entries, ordinary.length);
    assert.equal(readFileSync(join(p.root, "etc/hostname"), "utf8"), "box\n");
    const st = statSync(join(p.root, "etc/hostname"));
    assert.equal(st.uid, 1234);
    assert.equal(st.gid, 2345);
    assert.equal(st.mtimeMs, 1_700_000_000_000);
    assert.equal(statSync(join(p.root, "usr/bin/tool")).mode & 0o7777, 0o4755);
    assert.equal(readlinkSync(join(p.root, "bin")), "usr/bin");
    assert.equal(statSync(join(p.root, "usr/bin/tool2")).ino, statSync(join(p.root, "usr/bin/tool")).ino);
    assert.equal(statSync(join(p.root, "locked")).mode & 0o777, 0o500);
    assert.equal(readFileSync(join(p.root, "locked/inside"), "utf8"), "in a read-only directory\n");
    assert.equal(statSync(join(p.root, "etc")).mtimeMs, 1_700_000_000_000);
  });

  test("rootless: owners are not applied (files stay the extracting user's)", async () => {
    const p = place();
    await extract(p.root, tar(ordinary), { rootless: true });
    assert.equal(statSync(join(p.root, "etc/hostname")).uid, process.getuid?.());
  });

  for (const [kind, pack] of [
    ["gzip", (b: Buffer) => gzipSync(b)],
    ["zstd", (b: Buffer) => zstdCompressSync(b)],
    ["xz", (b: Buffer) => spawnSync("xz", ["-c"], { input: b }).stdout],
  ] as const) {
    test(`${kind}-compressed input`, async () => {
      const p = place();
      await extract(p.root, pack(tar(ordinary)));
      assert.equal(readFileSync(join(p.root, "etc/hostname"), "utf8"), "box\n");
    });
  }

  test("not a tar archive: a one-line CmError", async () => {
    const p = place();
    await assert.rejects(extract(p.root, Buffer.from("hello, this is not a tarball\n".repeat(40))), (e: unknown) => {
      assert.ok(e instanceof CmError);
      assert.doesNotMatch(e.message, /\n/);
      return true;
    });
    await assert.rejects(extract(p.root, Buffer.alloc(0)), CmError);
  });

  test("later entries replace earlier ones (file over symlink, directory over file)", async () => {
    const p = place();
    await extract(
      p.root,
      tar([
        { path: "a", type: "symlink", linkname: "b" },
        { path: "a", content: "file now\n" },
        { path: "d", content: "a file first\n" },
        { path: "d/", type: "dir" },
        { path: "d/x", content: "x\n" },
      ]),
    );
    assert.equal(readFileSync(join(p.root, "a"), "utf8"), "file now\n");
    assert.equal(readFileSync(join(p.root, "d/x"), "utf8"), "x\n");
  });
});

describe("extractTar: hostile archives never write outside the root", () => {
  test('an entry with ".." is refused', async () => {
    const p = place();
    await assert.rejects(
      extract(p.root, tar([{ path: "../outside/pwned", content: "x" }])),
      /refusing test archive: unsafe entry "\.\.\/outside\/pwned": it climbs out with "\.\."$/,
    );
    await assert.rejects(extract(p.root, tar([{ path: "etc/../../outside/pwned", content: "x" }])), CmError);
    assertOutsideUntouched(p);
  });

  test("an absolute path, or a NUL in a path or link target, is refused", async () => {
    const p = place();
    await assert.rejects(extract(p.root, tar([{ path: `${p.outside}/pwned`, content: "x" }])), isUnsafe);
    await assert.rejects(extract(p.root, tar([{ path: "/abs", content: "x" }])), /unsafe entry "\/abs": absolute path/);
    await assert.rejects(extract(p.root, tar([{ path: "a", pax: { path: "a\0b" } }])), isUnsafe);
    await assert.rejects(extract(p.root, tar([{ path: "l", type: "symlink", pax: { linkpath: "x\0y" } }])), isUnsafe);
    assertOutsideUntouched(p);
    assert.deepEqual(spawnSync("ls", ["-A", p.root], { encoding: "utf8" }).stdout, "");
  });

  test("a symlink to an absolute outside directory, then a file through it: written inside the root", async () => {
    const p = place();
    await extract(
      p.root,
      tar([
        { path: "evil", type: "symlink", linkname: p.outside },
        { path: "evil/pwned", content: "x" },
        { path: "evil/secret", content: "overwritten" },
      ]),
    );
    assertOutsideUntouched(p);
    assert.equal(readlinkSync(join(p.root, "evil")), p.outside);
    assert.equal(readFileSync(join(p.root, p.outside, "pwned"), "utf8"), "x");
  });

  test("a relative symlink climbing out (../../..), then a file through it: clamped at the root", async () => {
    const p = place();
    await extract(
      p.root,
      tar([
        { path: "a/up", type: "symlink", linkname: "../../../../../../.." },
        { path: "a/up/outside/secret", content: "overwritten" },
      ]),
    );
    assertOutsideUntouched(p);
    assert.equal(readFileSync(join(p.root, "outside/secret"), "utf8"), "overwritten");
  });

  test("a symlink as the final component is replaced, never written through", async () => {
    const p = place();
    await extract(
      p.root,
      tar([
        { path: "etc/", type: "dir" },
        { path: "etc/passwd", type: "symlink", linkname: p.secret },
        { path: "etc/passwd", content: "root:x:0:0::/root:/bin/sh\n" },
      ]),
    );
    assertOutsideUntouched(p);
    assert.ok(lstatSync(join(p.root, "etc/passwd")).isFile());
  });

  test("a symlink whose target exists outside, followed by a hard link through it: refused", async () => {
    const p = place();
    await assert.rejects(
      extract(
        p.root,
        tar([
          { path: "l", type: "symlink", linkname: p.outside },
          { path: "stolen", type: "hardlink", linkname: "l/secret" },
        ]),
      ),
      /hard link/,
    );
    assertOutsideUntouched(p);
  });

  test("a directory replaced by a symlink to outside: its deferred mode and time never reach the outside", async () => {
    const p = place();
    chmodSync(p.outside, 0o755);
    const before = statSync(p.outside);
    await extract(
      p.root,
      tar([
        { path: "a/", type: "dir", mode: 0o777, mtime: 0 },
        { path: "a/b/", type: "dir", mode: 0o777, mtime: 0 },
        { path: "a", type: "symlink", linkname: p.outside },
      ]),
    );
    const st = statSync(p.outside);
    assert.equal(st.mode & 0o7777, 0o755);
    assert.equal(st.mtimeMs, before.mtimeMs);
    assertOutsideUntouched(p);
  });

  test('hard links to outside paths (absolute or "..") are refused', async () => {
    const p = place();
    await assert.rejects(extract(p.root, tar([{ path: "stolen", type: "hardlink", linkname: p.secret }])), /hard link/);
    await assert.rejects(extract(p.root, tar([{ path: "stolen", type: "hardlink", linkname: "../outside/secret" }])), /hard link/);
    assertOutsideUntouched(p);
    assert.equal(existsSync(join(p.root, "stolen")), false);
  });

  for (const rootless of [true, false]) {
    test(`device nodes are never made, nothing is extracted below dev/ (${rootless ? "rootless" : "root"}); FIFOs are`, async () => {
      const p = place();
      const r = await extract(
        p.root,
        tar([
          { path: "dev/", type: "dir" },
          { path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
          { path: "dev/planted", content: "x" },
          { path: "opt/sda", type: "block", devmajor: 8, devminor: 0, mode: 0o666 },
          { path: "opt/null", type: "char", devmajor: 1, devminor: 3 },
          { path: "opt/ok", content: "ok" },
          { path: "opt/link-to-dev", type: "hardlink", linkname: "dev/planted" },
          { path: "opt/fifo", type: "fifo", mode: 0o640 },
        ]),
        { rootless },
      );
      assert.deepEqual(r.skipped.sort(), ["dev/null", "dev/planted", "opt/link-to-dev", "opt/null", "opt/sda"]);
      assert.ok(statSync(join(p.root, "dev")).isDirectory());
      assert.deepEqual(spawnSync("ls", ["-A", join(p.root, "dev")], { encoding: "utf8" }).stdout, "");
      assert.equal(existsSync(join(p.root, "opt/sda")), false);
      assert.equal(existsSync(join(p.root, "opt/null")), false);
      assert.equal(readFileSync(join(p.root, "opt/ok"), "utf8"), "ok");
      assert.ok(lstatSync(join(p.root, "opt/fifo")).isFIFO());
      assert.equal(lstatSync(join(p.root, "opt/fifo")).mode & 0o777, 0o640);
    });
  }

  test("a file where the archive needs a directory refuses the archive; an unknown entry kind too", async () => {
    const p = place();
    await assert.rejects(
      extract(
        p.root,
        tar([
          { path: "f", content: "a file" },
          { path: "f/x", content: "below a file" },
        ]),
      ),
      /unsafe entry "f\/x": its parent "f" is not a directory/,
    );
    await assert.rejects(extract(place().root, tar([{ path: "s", type: "sparse", content: "" }])), /of a kind cm cannot extract/);
  });
});

describe("extractTar: OCI whiteouts (layers)", () => {
  const lower: Entry[] = [
    { path: "etc/", type: "dir" },
    { path: "etc/keep", content: "keep" },
    { path: "etc/gone", content: "gone" },
    { path: "var/cache/", type: "dir" },
    { path: "var/cache/old1", content: "1" },
    { path: "var/cache/sub/old2", content: "2" },
    { path: "opt/tree/deep/file", content: "d" },
  ];

  test(".wh.NAME removes NAME (file or tree) and is not itself extracted", async () => {
    const p = place();
    await extract(p.root, tar(lower), { whiteouts: true });
    await extract(
      p.root,
      tar([
        { path: "etc/.wh.gone", content: "" },
        { path: "opt/.wh.tree", content: "" },
        { path: "etc/.wh.never-existed", content: "" },
      ]),
      { whiteouts: true },
    );
    assert.equal(readFileSync(join(p.root, "etc/keep"), "utf8"), "keep");
    assert.equal(existsSync(join(p.root, "etc/gone")), false);
    assert.equal(existsSync(join(p.root, "etc/.wh.gone")), false);
    assert.equal(existsSync(join(p.root, "opt/tree")), false);
    assert.ok(existsSync(join(p.root, "opt")));
  });

  test(".wh..wh..opq empties the directory of lower content but keeps this layer's, whatever the order", async () => {
    const p = place();
    await extract(p.root, tar(lower), { whiteouts: true });
    await extract(
      `${p.root}/`, // a trailing slash changes nothing
      tar([
        { path: "var/cache/new-before", content: "b" },
        { path: "var/cache/sub/", type: "dir" },
        { path: "var/cache/.wh..wh..opq", content: "" },
        { path: "var/cache/new-after", content: "a" },
      ]),
      { whiteouts: true },
    );
    const ls = spawnSync("find", [join(p.root, "var/cache"), "-mindepth", "1", "-printf", "%P\n"], { encoding: "utf8" })
      .stdout.trim()
      .split("\n")
      .sort();
    assert.deepEqual(ls, ["new-after", "new-before", "sub"]);
  });

  test("whiteouts of the directory itself or its parent (.wh.. and .wh...) are refused; nothing is removed", async () => {
    for (const path of [".wh..", ".wh...", "etc/.wh..", "etc/.wh..."]) {
      const p = place();
      await extract(p.root, tar(lower), { whiteouts: true });
      await assert.rejects(extract(p.root, tar([{ path, content: "" }]), { whiteouts: true }), isUnsafe, path);
      assert.equal(readFileSync(join(p.root, "etc/keep"), "utf8"), "keep", path);
      assertOutsideUntouched(p);
    }
  });

  test("without whiteouts: .wh. files are ordinary files", async () => {
    const p = place();
    await extract(p.root, tar([{ path: "etc/.wh.gone", content: "" }]));
    assert.ok(existsSync(join(p.root, "etc/.wh.gone")));
  });

  test("a whiteout cannot remove anything outside the root", async () => {
    const p = place();
    await extract(
      p.root,
      tar([
        { path: "l", type: "symlink", linkname: p.outside },
        { path: "l/.wh.secret", content: "" },
        { path: "l/.wh..wh..opq", content: "" },
      ]),
      { whiteouts: true },
    );
    assertOutsideUntouched(p);
  });
});
/** Image layers: whiteouts on, a diff id; the same writer (formerly image/layers.ts, kept as tests). */
describe("extractTar: image layers", () => {
  let n = 0;
  const rootfs = () => {
    const dir = join(base, `layer-${n++}`, "rootfs");
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  const scratch = base;
  const apply = (root: string, entries: Entry[] | Buffer, opts: { rootless?: boolean; diffId?: string } = {}) =>
    extract(root, Buffer.isBuffer(entries) ? entries : tar(entries), { whiteouts: true, ...opts });

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
      assert.deepEqual(r.skipped, ["dev/null"]);
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
      await assert.rejects(apply(root, entries), isUnsafe, JSON.stringify(entries));
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
    await assert.rejects(apply(rootfs(), raw.subarray(0, 1500)), isBad);
    await assert.rejects(apply(rootfs(), gzipSync(raw).subarray(0, 40)), isBad);
    await assert.rejects(apply(rootfs(), Buffer.alloc(512, 7)), isBad);
  });
});
