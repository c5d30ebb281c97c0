/**
 * review/changes.ts over an upper and a lower directory this test makes the way overlayfs leaves
 * them: whiteouts as character devices 0/0 (mknod: needs root, as the test suite runs) and as
 * empty files with user.overlay.whiteout (xwhiteout), an opaque directory (user.overlay.opaque),
 * copied-up files that changed, changed only their mode, or did not change at all.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { readChanges } from "../../../src/review/changes.ts";

process.umask(0o022); // the modes below are the defaults under it
const root = mkdtempSync(join(tmpdir(), "cm-changes-"));
after(() => rmSync(root, { recursive: true, force: true }));

function tree(base: string, files: Record<string, string | { dir: true } | { link: string }>): string {
  mkdirSync(base, { recursive: true });
  for (const [rel, what] of Object.entries(files)) {
    const p = join(base, rel);
    if (typeof what === "string") writeFileSync(p, what);
    else if ("dir" in what) mkdirSync(p, { recursive: true });
    else symlinkSync(what.link, p);
  }
  return base;
}

test("whiteouts (device and xattr), an opaque directory, type changes, symlinks, modes, unchanged copies", () => {
  const lower = tree(join(root, "lower"), {
    "a.txt": "a\n",
    "b.txt": "b\n",
    "c.txt": "c\n",
    d: { dir: true },
    "d/x": "x\n",
    "d/y": "y\n",
    e: { dir: true },
    "e/z": "z\n",
    f: "was a file\n",
    link: { link: "a.txt" },
    "m.txt": "mode\n",
    "same.txt": "same\n",
  });
  chmodSync(join(lower, "m.txt"), 0o644);
  const upper = tree(join(root, "upper"), {
    "a.txt": "A\n",
    "c.txt": "",
    d: { dir: true },
    "d/w": "w\n",
    f: { dir: true },
    "f/inside": "i\n",
    link: { link: "b.txt" },
    "m.txt": "mode\n",
    "new.txt": "new\n",
    newdir: { dir: true },
    "newdir/g": "g\n",
    "same.txt": "same\n",
  });
  chmodSync(join(upper, "m.txt"), 0o600);
  execFileSync("mknod", [join(upper, "b.txt"), "c", "0", "0"]);
  execFileSync("mknod", [join(upper, "e"), "c", "0", "0"]);
  execFileSync("mknod", [join(upper, "gone-anyway"), "c", "0", "0"]); // a whiteout for a name the lower lacks: nothing
  execFileSync("setfattr", ["-n", "user.overlay.whiteout", "-v", "y", join(upper, "c.txt")]);
  execFileSync("setfattr", ["-n", "user.overlay.opaque", "-v", "y", join(upper, "d")]);

  const changes = readChanges(upper, lower, true);
  assert.deepEqual(changes, [
    { path: "a.txt", kind: "modified", type: "file", before: "file", mode: 0o644, modeOnly: false },
    { path: "b.txt", kind: "deleted", before: "file" },
    { path: "c.txt", kind: "deleted", before: "file" },
    { path: "d/w", kind: "added", type: "file", mode: 0o644 },
    { path: "d/x", kind: "deleted", before: "file" },
    { path: "d/y", kind: "deleted", before: "file" },
    { path: "e", kind: "deleted", before: "dir" },
    { path: "e/z", kind: "deleted", before: "file" },
    { path: "f", kind: "modified", type: "dir", before: "file", mode: 0o755 },
    { path: "f/inside", kind: "added", type: "file", mode: 0o644 },
    { path: "link", kind: "modified", type: "symlink", before: "symlink", target: "b.txt" },
    { path: "m.txt", kind: "modified", type: "file", before: "file", mode: 0o600, modeOnly: true },
    { path: "new.txt", kind: "added", type: "file", mode: 0o644 },
    { path: "newdir", kind: "added", type: "dir", mode: 0o755 },
    { path: "newdir/g", kind: "added", type: "file", mode: 0o644 },
  ]);
});

test("below an opaque directory the lower is hidden at every depth: rm -rf d && mkdir -p d/a && echo new > d/a/x", () => {
  const lower = tree(join(root, "lower-deep"), {
    d: { dir: true },
    "d/a": { dir: true },
    "d/a/x": "x\n",
    "d/a/y": "y\n",
    "d/a/b": { dir: true },
    "d/a/b/z": "z\n",
    "d/same": "same\n",
  });
  const upper = tree(join(root, "upper-deep"), {
    d: { dir: true },
    "d/a": { dir: true },
    "d/a/x": "new\n",
    "d/same": "same\n",
  });
  execFileSync("setfattr", ["-n", "user.overlay.opaque", "-v", "y", join(upper, "d")]);
  assert.deepEqual(readChanges(upper, lower, true), [
    { path: "d/a/b", kind: "deleted", before: "dir" },
    { path: "d/a/b/z", kind: "deleted", before: "file" },
    { path: "d/a/x", kind: "modified", type: "file", before: "file", mode: 0o644, modeOnly: false },
    { path: "d/a/y", kind: "deleted", before: "file" },
  ]);
});

test("as root only trusted.overlay.* counts: user.overlay.* xattrs a container set itself fake no whiteout or opaque directory", () => {
  const lower = tree(join(root, "lower-ns"), { d: { dir: true }, "d/x": "x\n", ghost: "g\n" });
  const upper = tree(join(root, "upper-ns"), { d: { dir: true }, "d/new": "n\n", ghost: "" });
  execFileSync("setfattr", ["-n", "user.overlay.opaque", "-v", "y", join(upper, "d")]);
  execFileSync("setfattr", ["-n", "user.overlay.whiteout", "-v", "y", join(upper, "ghost")]);
  assert.deepEqual(readChanges(upper, lower, false), [
    { path: "d/new", kind: "added", type: "file", mode: 0o644 },
    { path: "ghost", kind: "modified", type: "file", before: "file", mode: 0o644, modeOnly: false },
  ]);
  // rootless (userxattr) the same names are the kernel's own
  assert.deepEqual(
    readChanges(upper, lower, true).map((c) => `${c.kind} ${c.path}`),
    ["added d/new", "deleted d/x", "deleted ghost"],
  );
});

test("a layer without its upper directory: one line, not an internal error", () => {
  assert.throws(
    () => readChanges(join(root, "no-such-upper"), root, true),
    (err: unknown) => err instanceof CmError && /the review's layer has no upper directory/.test(err.message),
  );
});

test("a FIFO the run left cannot be applied: one clear error", () => {
  const lower = tree(join(root, "lower2"), {});
  const upper = tree(join(root, "upper2"), {});
  execFileSync("mkfifo", [join(upper, "pipe")]);
  assert.throws(
    () => readChanges(upper, lower, true),
    (err: unknown) => err instanceof CmError && /the run created pipe, a FIFO: cm cannot apply it/.test(err.message),
  );
});
