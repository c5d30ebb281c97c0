/**
 * review/apply.ts: which host paths are conflicts (changed since the run started, gone, in the way,
 * or under something that is no longer a directory), which are already what the run made (an
 * interrupted apply run again), and that a forced apply makes the project what the run saw.
 * Over directories this test makes: the project, and an upper holding the run's versions.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { CmError } from "../../../src/errors.ts";
import { type ApplyInput, applyChanges, conflicts } from "../../../src/review/apply.ts";
import type { Change } from "../../../src/review/changes.ts";

process.umask(0o022);
const root = mkdtempSync(join(tmpdir(), "cm-apply-"));
after(() => rmSync(root, { recursive: true, force: true }));

function write(base: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(base, rel, ".."), { recursive: true });
    writeFileSync(join(base, rel), content);
  }
}

const file = (path: string, kind: Change["kind"]): Change =>
  kind === "deleted"
    ? { path, kind, before: "file" }
    : { path, kind, type: "file", mode: 0o644, ...(kind === "modified" ? { before: "file" } : {}) };

test("conflicts: changed after the start, gone, in the way, under a non-directory; not: untouched, or already the run's", async () => {
  const project = join(root, "p1");
  const upper = join(root, "u1");
  write(project, { "untouched.txt": "old\n", "edited.txt": "old\n", "removed.txt": "old\n", "same.txt": "old\n", "sub/x": "x\n" });
  write(upper, {
    "untouched.txt": "run\n",
    "edited.txt": "run\n",
    "removed.txt": "run\n",
    "same.txt": "run\n",
    "in-the-way.txt": "run\n",
    "sub/x": "run\n",
  });
  await sleep(20); // ctime is finer than Date.now(): the run starts clearly after the writes above
  const startedMs = Date.now();
  await sleep(20); // what happens on the host from here is after the run's start
  write(project, { "edited.txt": "host\n", "same.txt": "run\n", "in-the-way.txt": "host\n" });
  rmSync(join(project, "removed.txt"));
  rmSync(join(project, "sub"), { recursive: true });
  writeFileSync(join(project, "sub"), "now a file\n");
  const input: ApplyInput = {
    id: "r1",
    upper,
    project,
    startedMs,
    changes: [
      file("edited.txt", "modified"),
      file("in-the-way.txt", "added"),
      file("removed.txt", "modified"),
      file("same.txt", "modified"),
      file("sub/x", "modified"),
      file("untouched.txt", "modified"),
    ],
  };
  assert.deepEqual(conflicts(input), [
    "edited.txt",
    "in-the-way.txt",
    "removed.txt (gone from the project)",
    "sub (not a directory on the host)",
    "sub/x (gone from the project)",
  ]);
  assert.throws(
    () => applyChanges(input),
    (err: unknown) =>
      err instanceof CmError &&
      /^changed in the project since the run started: edited\.txt, in-the-way\.txt, removed\.txt \(gone from the project\), sub \(not a directory on the host\), sub\/x \(gone from the project\); nothing applied$/.test(
        err.message,
      ),
  );
  assert.equal(readFileSync(join(project, "untouched.txt"), "utf8"), "old\n", "nothing applied");
});

test("an apply run again skips what is already in place; force takes the run's version", async () => {
  const project = join(root, "p2");
  const upper = join(root, "u2");
  write(project, { "a.txt": "old\n", "b.txt": "old\n", "gone.txt": "old\n" });
  write(upper, { "a.txt": "run a\n", "b.txt": "run b\n" });
  // Date.now() is whole milliseconds and ctime is not: the run "starts" clearly after the files
  // above were written and clearly before the one below
  await sleep(20);
  const startedMs = Date.now();
  await sleep(20);
  write(project, { "a.txt": "run a\n" }); // as if a first apply had got this far
  const changes = [file("a.txt", "modified"), file("b.txt", "modified"), file("gone.txt", "deleted")];
  const input = { id: "r2", upper, project, startedMs, changes };
  assert.deepEqual(conflicts(input), []);
  assert.deepEqual(applyChanges(input), { written: 1, deleted: 1, skipped: 1 });
  assert.equal(readFileSync(join(project, "b.txt"), "utf8"), "run b\n");
  write(project, { "b.txt": "host again\n" });
  assert.deepEqual(conflicts(input), ["b.txt"]);
  assert.deepEqual(applyChanges({ ...input, force: true }), { written: 1, deleted: 0, skipped: 2 });
  assert.equal(readFileSync(join(project, "b.txt"), "utf8"), "run b\n");
});

test("a parent swapped for a symlink after the check (a container still running) stops the apply: nothing outside the project is written, deleted or chmodded", () => {
  // force skips the check, as a swap right after it would: every write must still refuse the link
  const outside = join(root, "outside");
  write(outside, { "gone.txt": "keep\n", "d/f": "keep\n" });
  const before = statSync(join(outside, "d")).mode;
  const cases: Change[][] = [
    [file("sub/x", "added")],
    [file("sub/gone.txt", "deleted")],
    [{ path: "sub/d", kind: "modified", type: "dir", before: "dir", mode: 0o777, modeOnly: true }],
  ];
  for (const [n, changes] of cases.entries()) {
    const project = join(root, `swap${n}`);
    const upper = join(root, `swap${n}-upper`);
    write(upper, { "sub/x": "pwned\n" });
    mkdirSync(join(upper, "sub/d"), { recursive: true });
    chmodSync(join(upper, "sub/d"), 0o777);
    mkdirSync(project);
    symlinkSync(outside, join(project, "sub"));
    assert.throws(
      () => applyChanges({ id: `s${n}`, upper, project, startedMs: Date.now(), changes, force: true }),
      (err: unknown) => err instanceof CmError && /^sub changed in the project during cm apply \(no longer a directory\)/.test(err.message),
      JSON.stringify(changes),
    );
    assert.deepEqual(readdirSync(outside).sort(), ["d", "gone.txt"]);
    assert.equal(statSync(join(outside, "d")).mode, before);
    assert.deepEqual(readdirSync(project), ["sub"], "the staging directory is removed");
  }
});
