import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  NotSmallRegularFile,
  readSmallFile,
  removeHollowTree,
  removeTree,
  resolveInRoot,
  writeFileAtomic,
  writeFileInRoot,
} from "../../../src/host/fs.ts";

function rootfs(): string {
  const root = mkdtempSync(join(tmpdir(), "cm-fs-"));
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  mkdirSync(join(root, "etc"), { recursive: true });
  symlinkSync("usr/bin", join(root, "bin"));
  writeFileSync(join(root, "usr/bin/tool"), "");
  return root;
}

describe("resolveInRoot", () => {
  test("follows relative and absolute symlinks inside the root", () => {
    const root = rootfs();
    symlinkSync("/usr/bin/tool", join(root, "etc/abs"));
    assert.equal(resolveInRoot(root, "/bin/tool"), join(root, "usr/bin/tool"));
    assert.equal(resolveInRoot(root, "/etc/abs"), join(root, "usr/bin/tool"));
  });
  test("never leaves the root: .. and absolute symlinks stay inside", () => {
    const root = rootfs();
    symlinkSync("/etc/passwd", join(root, "etc/host-passwd"));
    symlinkSync("../../../../../..", join(root, "etc/up"));
    assert.equal(resolveInRoot(root, "/etc/host-passwd"), join(root, "etc/passwd"));
    assert.equal(resolveInRoot(root, "/../../etc/shadow"), join(root, "etc/shadow"));
    assert.equal(resolveInRoot(root, "/etc/up/etc/shadow"), join(root, "etc/shadow"));
  });
  test("a missing tail is kept; a loop is an error", () => {
    const root = rootfs();
    assert.equal(resolveInRoot(root, "/bin/missing/x"), join(root, "usr/bin/missing/x"));
    symlinkSync("loop", join(root, "loop"));
    assert.throws(() => resolveInRoot(root, "/loop"), /too many symbolic links/);
  });
});

describe("writeFileInRoot", () => {
  test("does not follow a planted symlink out of the root", () => {
    const root = rootfs();
    const outside = mkdtempSync(join(tmpdir(), "cm-outside-"));
    symlinkSync(outside, join(root, "etc/apt"));
    writeFileSync(join(outside, "victim"), "keep");
    symlinkSync(join(outside, "victim"), join(root, "etc/file"));
    writeFileInRoot(root, "/etc/apt/apt.conf.d/x", "data");
    writeFileInRoot(root, "/etc/file", "data");
    assert.equal(readFileSync(join(outside, "victim"), "utf8"), "keep");
    assert.ok(!existsSync(join(outside, "apt.conf.d")));
    assert.equal(readFileSync(join(root, outside, "apt.conf.d/x"), "utf8"), "data");
    assert.ok(lstatSync(join(root, "etc/file")).isFile());
  });
  test("a link through a missing directory and then .. (missing/../../..) does not climb out of the root (red team)", () => {
    const root = rootfs();
    const outside = mkdtempSync(join(tmpdir(), "cm-outside-"));
    mkdirSync(join(root, "etc/apt"), { recursive: true });
    symlinkSync(`x${"/..".repeat(30)}${outside}`, join(root, "etc/apt/apt.conf.d"));
    writeFileInRoot(root, "/etc/apt/apt.conf.d/99cm", "data");
    assert.ok(!existsSync(join(outside, "99cm")), "written outside the root");
    assert.equal(resolveInRoot(root, "/etc/apt/apt.conf.d/99cm"), join(root, outside, "99cm"));
    assert.equal(readFileSync(join(root, outside, "99cm"), "utf8"), "data");
  });
  test("a link reached after missing/.. is resolved inside the root too (second red team)", () => {
    const root = rootfs();
    const outside = mkdtempSync(join(tmpdir(), "cm-outside-"));
    symlinkSync("/", join(root, "evil"));
    symlinkSync(`missing/../evil${outside}/OUT`, join(root, "a"));
    mkdirSync(join(root, "etc"), { recursive: true });
    symlinkSync(`../nope/../evil${outside}`, join(root, "etc/apt"));
    assert.equal(resolveInRoot(root, "/a/x"), join(root, outside, "OUT/x"));
    writeFileInRoot(root, "/a/pwned", "data");
    writeFileInRoot(root, "/etc/apt/apt.conf.d/99cm", "data");
    assert.ok(!existsSync(join(outside, "OUT")), "written outside the root");
    assert.ok(!existsSync(join(outside, "apt.conf.d")), "written outside the root");
    assert.equal(readFileSync(join(root, outside, "apt.conf.d/99cm"), "utf8"), "data");
  });
});

describe("removeTree", () => {
  test("removes trees with mode-000 directories and read-only files", () => {
    const root = rootfs();
    mkdirSync(join(root, "locked/inner"), { recursive: true });
    writeFileSync(join(root, "locked/inner/f"), "x");
    chmodSync(join(root, "locked/inner/f"), 0);
    chmodSync(join(root, "locked/inner"), 0);
    chmodSync(join(root, "locked"), 0o500);
    removeTree(root);
    assert.ok(!existsSync(root));
  });
  test("names that are not valid UTF-8 are removed as they are, never taken for their U+FFFD form", () => {
    const root = rootfs();
    const bad = (name: string) => Buffer.concat([Buffer.from(`${root}/${name}`), Buffer.from([0xff])]);
    mkdirSync(Buffer.concat([bad("dir"), Buffer.from("/inner")]), { recursive: true });
    writeFileSync(Buffer.concat([bad("dir"), Buffer.from("/inner/f"), Buffer.from([0xfe])]), "x");
    writeFileSync(bad("file"), "x");
    const outside = mkdtempSync(join(tmpdir(), "cm-outside-"));
    writeFileSync(join(outside, "file\uFFFD"), "keep");
    removeTree(root);
    assert.ok(!existsSync(root));
    assert.equal(readFileSync(join(outside, "file\uFFFD"), "utf8"), "keep");
  });
  test("a missing path is fine; symlinks are removed, not followed", () => {
    removeTree("/nonexistent/cm-test");
    const root = rootfs();
    const outside = mkdtempSync(join(tmpdir(), "cm-outside-"));
    writeFileSync(join(outside, "keep"), "x");
    symlinkSync(outside, join(root, "link"));
    removeTree(root);
    assert.ok(existsSync(join(outside, "keep")));
  });
});

test("writeFileAtomic replaces the whole file", () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-atomic-"));
  writeFileAtomic(join(dir, "f"), "one");
  writeFileAtomic(join(dir, "f"), "two");
  assert.equal(readFileSync(join(dir, "f"), "utf8"), "two");
});

describe("readSmallFile", () => {
  const reason = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      return err instanceof NotSmallRegularFile ? err.reason : `other: ${(err as Error).message}`;
    }
    return "read";
  };

  test("reads a regular file; refuses a FIFO without blocking, a device, a symlink, a file over the limit", () => {
    const dir = mkdtempSync(join(tmpdir(), "cm-small-"));
    writeFileSync(join(dir, "ok"), "a = 1\n");
    assert.equal(readSmallFile(join(dir, "ok"), 100), "a = 1\n");
    execFileSync("mkfifo", [join(dir, "fifo")]);
    assert.equal(
      reason(() => readSmallFile(join(dir, "fifo"), 100)),
      "not a regular file",
    );
    symlinkSync("/dev/zero", join(dir, "zero"));
    assert.equal(
      reason(() => readSmallFile(join(dir, "zero"), 100)),
      "a symbolic link",
    );
    assert.equal(
      reason(() => readSmallFile(join(dir, "zero"), 100, true)),
      "not a regular file",
    );
    symlinkSync(join(dir, "ok"), join(dir, "link"));
    assert.equal(
      reason(() => readSmallFile(join(dir, "link"), 100)),
      "a symbolic link",
    );
    assert.equal(readSmallFile(join(dir, "link"), 100, true), "a = 1\n");
    writeFileSync(join(dir, "big"), "x".repeat(101));
    assert.equal(
      reason(() => readSmallFile(join(dir, "big"), 100)),
      "too large",
    );
    assert.equal(reason(() => readSmallFile(join(dir, "missing"), 100)).startsWith("other: ENOENT"), true);
  });
});

describe("removeTree of trees a container nested", () => {
  test("deeper than PATH_MAX and deeper than the JavaScript stack (20,000 levels), with a mode 000 directory inside", () => {
    const dir = mkdtempSync(join(tmpdir(), "cm-deep-"));
    // each step wraps the tree in a new directory, so no path used here is long
    mkdirSync(join(dir, "t"));
    for (let i = 0; i < 20_000; i++) {
      mkdirSync(join(dir, "n"));
      renameSync(join(dir, "t"), join(dir, "n", i % 1000 === 0 ? "x".repeat(200) : "d"));
      renameSync(join(dir, "n"), join(dir, "t"));
    }
    chmodSync(join(dir, "t"), 0o000);
    removeTree(dir);
    assert.equal(existsSync(dir), false);
  });

  test("more levels of long names than there are file descriptors (EMFILE): removed all the same (red team)", () => {
    const dir = mkdtempSync(join(tmpdir(), "cm-deep-"));
    mkdirSync(join(dir, "t"));
    for (let i = 0; i < 600; i++) {
      mkdirSync(join(dir, "n"));
      renameSync(join(dir, "t"), join(dir, "n", "y".repeat(250)));
      renameSync(join(dir, "n"), join(dir, "t"));
    }
    // removeDir keeps a descriptor every ~4 levels of these names: 150 > 64
    const fsModule = new URL("../../../src/host/fs.ts", import.meta.url).pathname;
    const script = `import { removeTree } from ${JSON.stringify(fsModule)}; removeTree(${JSON.stringify(dir)});`;
    const r = spawnSync("prlimit", ["--nofile=64", "--", process.execPath, "--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(existsSync(dir), false);
  });
});

describe("removeHollowTree", () => {
  test("removes what a runtime leaves (directories, empty files, links); keeps a tree with data, also where it cannot look", () => {
    const hollow = mkdtempSync(join(tmpdir(), "cm-hollow-"));
    mkdirSync(join(hollow, "dev"), { recursive: true });
    writeFileSync(join(hollow, "dev/null"), "");
    symlinkSync("/proc/self/fd", join(hollow, "dev/fd"));
    assert.equal(removeHollowTree(hollow), true);
    assert.equal(existsSync(hollow), false);
    const data = mkdtempSync(join(tmpdir(), "cm-hollow-"));
    mkdirSync(join(data, "d"));
    writeFileSync(join(data, "d/f"), "data");
    assert.equal(removeHollowTree(data), false);
    // a directory that can be listed but not entered: its entries cannot be looked at (as a user)
    chmodSync(data, 0o755);
    chmodSync(join(data, "d"), 0o444);
    const asUser = spawnSync(
      "setpriv",
      [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        process.execPath,
        "--input-type=module",
        "-e",
        `import { removeHollowTree } from ${JSON.stringify(new URL("../../../src/host/fs.ts", import.meta.url).pathname)}; process.stdout.write(String(removeHollowTree(${JSON.stringify(data)})));`,
      ],
      { encoding: "utf8" },
    );
    chmodSync(join(data, "d"), 0o755);
    assert.equal(asUser.stdout, "false", asUser.stderr);
    assert.equal(readFileSync(join(data, "d/f"), "utf8"), "data");
    removeTree(data);
  });
});
