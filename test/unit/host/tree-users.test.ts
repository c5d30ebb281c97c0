import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { processesRootedIn, processesWorkingIn } from "../../../src/host/tree-users.ts";

// A fake /proc: <pid>/root, <pid>/cwd and <pid>/fd/<n> are symlinks, as in the real one.
const base = mkdtempSync(join(tmpdir(), "cm-procs-"));
after(() => rmSync(base, { recursive: true, force: true }));
const proc = join(base, "proc");
const tree = join(base, "data", ".b.creating-1");
const rootfs = join(tree, "rootfs");
mkdirSync(rootfs, { recursive: true });
mkdirSync(join(base, "elsewhere"));
function fakeProcess(pid: number, links: { root?: string; cwd?: string; fds?: string[] }) {
  const dir = join(proc, String(pid));
  mkdirSync(join(dir, "fd"), { recursive: true });
  if (links.root) symlinkSync(links.root, join(dir, "root"));
  symlinkSync(links.cwd ?? "/", join(dir, "cwd"));
  links.fds?.forEach((t, i) => {
    symlinkSync(t, join(dir, "fd", String(i)));
  });
}
fakeProcess(100, { root: rootfs }); // a container: its root is the rootfs (compared by inode)
fakeProcess(101, { root: "/", cwd: join(tree, "rootfs", "usr") }); // working below the tree
fakeProcess(102, { root: "/", cwd: "/", fds: ["/dev/null", join(tree, "rootfs", "usr", "lib")] }); // tar -C: an open dir fd
fakeProcess(103, { root: join(base, "elsewhere"), cwd: `${tree}-other` }); // a sibling with a shared prefix
mkdirSync(join(proc, "self"));

test("processes rooted in a rootfs are found by device and inode", () => {
  assert.deepEqual(processesRootedIn(rootfs, proc), [100]);
  assert.deepEqual(processesRootedIn(join(base, "missing"), proc), []);
});

test("processes working in a tree: cwd or an open file below it, not a sibling sharing a prefix", () => {
  assert.deepEqual(processesWorkingIn(tree, proc).sort(), [101, 102]);
  assert.deepEqual(processesWorkingIn(join(base, "elsewhere"), proc), []);
});
