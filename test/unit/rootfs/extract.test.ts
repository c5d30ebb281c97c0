import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
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
import { archivePath, detectCompression, extractTar } from "../../../src/rootfs/extract.ts";
import { type Item, tarball } from "./tarbuild.ts";

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

function extract(root: string, data: Buffer, opts: { rootless?: boolean; whiteouts?: boolean } = {}) {
  return extractTar(Readable.from([data]), root, {
    rootless: opts.rootless ?? false,
    whiteouts: opts.whiteouts ?? false,
    what: "test archive",
  });
}

function assertOutsideUntouched(p: { outside: string; secret: string }, names = ["secret"]): void {
  assert.equal(readFileSync(p.secret, "utf8"), "untouched\n");
  assert.equal(statSync(p.secret).nlink, 1);
  assert.deepEqual(spawnSync("ls", ["-A", p.outside], { encoding: "utf8" }).stdout.trim().split("\n"), names);
}

describe("archivePath", () => {
  test("strips leading / and ./, refuses ..", () => {
    assert.deepEqual(archivePath("./etc/passwd"), ["etc", "passwd"]);
    assert.deepEqual(archivePath("/etc//passwd"), ["etc", "passwd"]);
    assert.deepEqual(archivePath("./"), []);
    assert.equal(archivePath("../etc"), undefined);
    assert.equal(archivePath("a/../../b"), undefined);
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

const ordinary: Item[] = [
  { path: "./", type: "Directory", mode: 0o755 },
  { path: "./etc/", type: "Directory", mode: 0o755 },
  { path: "./etc/hostname", body: "box\n", mode: 0o644, uid: 1234, gid: 2345 },
  { path: "./usr/bin/tool", body: "#!/bin/sh\n", mode: 0o4755 },
  { path: "./bin", type: "SymbolicLink", linkpath: "usr/bin" },
  { path: "./usr/bin/tool2", type: "Link", linkpath: "./usr/bin/tool" },
  { path: "./locked/", type: "Directory", mode: 0o500 },
  { path: "./locked/inside", body: "in a read-only directory\n" },
];

describe("extractTar: ordinary archives", () => {
  test("files, directories, symlinks, hard links, modes, owners and times", async () => {
    const p = place();
    const r = await extract(p.root, tarball(ordinary));
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
    await extract(p.root, tarball(ordinary), { rootless: true });
    assert.equal(statSync(join(p.root, "etc/hostname")).uid, process.getuid?.());
  });

  for (const [kind, pack] of [
    ["gzip", (b: Buffer) => gzipSync(b)],
    ["zstd", (b: Buffer) => zstdCompressSync(b)],
    ["xz", (b: Buffer) => spawnSync("xz", ["-c"], { input: b }).stdout],
  ] as const) {
    test(`${kind}-compressed input`, async () => {
      const p = place();
      await extract(p.root, pack(tarball(ordinary)));
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
      tarball([
        { path: "a", type: "SymbolicLink", linkpath: "b" },
        { path: "a", body: "file now\n" },
        { path: "d", body: "a file first\n" },
        { path: "d/", type: "Directory" },
        { path: "d/x", body: "x\n" },
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
      extract(p.root, tarball([{ path: "../outside/pwned", body: "x" }])),
      /"\.\.\/outside\/pwned" has a "\.\." component/,
    );
    await assert.rejects(extract(p.root, tarball([{ path: "etc/../../outside/pwned", body: "x" }])), CmError);
    assertOutsideUntouched(p);
  });

  test("an absolute path is neutralised: it lands inside the root", async () => {
    const p = place();
    await extract(p.root, tarball([{ path: `${p.outside}/pwned`, body: "x" }]));
    assertOutsideUntouched(p);
    assert.equal(readFileSync(join(p.root, p.outside, "pwned"), "utf8"), "x");
  });

  test("a symlink to an absolute outside directory, then a file through it: written inside the root", async () => {
    const p = place();
    await extract(
      p.root,
      tarball([
        { path: "evil", type: "SymbolicLink", linkpath: p.outside },
        { path: "evil/pwned", body: "x" },
        { path: "evil/secret", body: "overwritten" },
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
      tarball([
        { path: "a/up", type: "SymbolicLink", linkpath: "../../../../../../.." },
        { path: "a/up/outside/secret", body: "overwritten" },
      ]),
    );
    assertOutsideUntouched(p);
    assert.equal(readFileSync(join(p.root, "outside/secret"), "utf8"), "overwritten");
  });

  test("a symlink as the final component is replaced, never written through", async () => {
    const p = place();
    await extract(
      p.root,
      tarball([
        { path: "etc/", type: "Directory" },
        { path: "etc/passwd", type: "SymbolicLink", linkpath: p.secret },
        { path: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n" },
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
        tarball([
          { path: "l", type: "SymbolicLink", linkpath: p.outside },
          { path: "stolen", type: "Link", linkpath: "l/secret" },
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
      tarball([
        { path: "a/", type: "Directory", mode: 0o777, mtime: new Date(0) },
        { path: "a/b/", type: "Directory", mode: 0o777, mtime: new Date(0) },
        { path: "a", type: "SymbolicLink", linkpath: p.outside },
      ]),
    );
    const st = statSync(p.outside);
    assert.equal(st.mode & 0o7777, 0o755);
    assert.equal(st.mtimeMs, before.mtimeMs);
    assertOutsideUntouched(p);
  });

  test('hard links to outside paths (absolute or "..") are refused', async () => {
    const p = place();
    await assert.rejects(extract(p.root, tarball([{ path: "stolen", type: "Link", linkpath: p.secret }])), /hard link/);
    await assert.rejects(extract(p.root, tarball([{ path: "stolen", type: "Link", linkpath: "../outside/secret" }])), /hard link/);
    assertOutsideUntouched(p);
    assert.equal(existsSync(join(p.root, "stolen")), false);
  });

  test("device nodes are skipped rootless; nothing is extracted below dev/", async () => {
    const p = place();
    const r = await extract(
      p.root,
      tarball([
        { path: "dev/", type: "Directory" },
        { path: "dev/null", type: "CharacterDevice", devmaj: 1, devmin: 3, mode: 0o666 },
        { path: "dev/planted", body: "x" },
        { path: "opt/sda", type: "BlockDevice", devmaj: 8, devmin: 0 },
        { path: "opt/ok", body: "ok" },
      ]),
      { rootless: true },
    );
    assert.deepEqual(r.skipped.sort(), ["dev/null", "dev/planted", "opt/sda"]);
    assert.ok(statSync(join(p.root, "dev")).isDirectory());
    assert.equal(existsSync(join(p.root, "dev/null")), false);
    assert.equal(existsSync(join(p.root, "opt/sda")), false);
    assert.equal(readFileSync(join(p.root, "opt/ok"), "utf8"), "ok");
  });

  test("as root, a device node outside dev/ is made inside the root", async () => {
    const p = place();
    await extract(p.root, tarball([{ path: "opt/null", type: "CharacterDevice", devmaj: 1, devmin: 3, mode: 0o666 }]));
    assert.ok(lstatSync(join(p.root, "opt/null")).isCharacterDevice());
  });
});

describe("extractTar: OCI whiteouts (layers)", () => {
  const lower: Item[] = [
    { path: "etc/", type: "Directory" },
    { path: "etc/keep", body: "keep" },
    { path: "etc/gone", body: "gone" },
    { path: "var/cache/", type: "Directory" },
    { path: "var/cache/old1", body: "1" },
    { path: "var/cache/sub/old2", body: "2" },
    { path: "opt/tree/deep/file", body: "d" },
  ];

  test(".wh.NAME removes NAME (file or tree) and is not itself extracted", async () => {
    const p = place();
    await extract(p.root, tarball(lower), { whiteouts: true });
    await extract(
      p.root,
      tarball([
        { path: "etc/.wh.gone", body: "" },
        { path: "opt/.wh.tree", body: "" },
        { path: "etc/.wh.never-existed", body: "" },
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
    await extract(p.root, tarball(lower), { whiteouts: true });
    await extract(
      p.root,
      tarball([
        { path: "var/cache/new-before", body: "b" },
        { path: "var/cache/sub/", type: "Directory" },
        { path: "var/cache/.wh..wh..opq", body: "" },
        { path: "var/cache/new-after", body: "a" },
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
      await extract(p.root, tarball(lower), { whiteouts: true });
      await assert.rejects(
        extract(p.root, tarball([{ path, body: "" }]), { whiteouts: true }),
        (e: unknown) => e instanceof CmError && e.code === "unsafe-archive",
        path,
      );
      assert.equal(readFileSync(join(p.root, "etc/keep"), "utf8"), "keep", path);
      assertOutsideUntouched(p);
    }
  });

  test("without whiteouts: .wh. files are ordinary files", async () => {
    const p = place();
    await extract(p.root, tarball([{ path: "etc/.wh.gone", body: "" }]));
    assert.ok(existsSync(join(p.root, "etc/.wh.gone")));
  });

  test("a whiteout cannot remove anything outside the root", async () => {
    const p = place();
    await extract(
      p.root,
      tarball([
        { path: "l", type: "SymbolicLink", linkpath: p.outside },
        { path: "l/.wh.secret", body: "" },
        { path: "l/.wh..wh..opq", body: "" },
      ]),
      { whiteouts: true },
    );
    assertOutsideUntouched(p);
  });
});
