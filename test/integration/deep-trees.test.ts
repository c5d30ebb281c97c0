import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS } from "../helpers/cm.ts";

/**
 * A container can nest directories until their full paths pass PATH_MAX (4096 bytes): each step
 * renames the tree into a new directory, so no path it uses is long. What cm removes or walks
 * afterwards (the bundle at delete, a --review run's changes at its end, diff and discard) must
 * still work, or fail in one line, never leave something cm cannot remove.
 */
const NEST = `n=$(printf '%0200d' 0); mkdir t; i=0; while [ $i -lt 30 ]; do mkdir $n && mv t $n/$n && mv $n t || exit 1; i=$((i+1)); done; echo deep > t/deep.txt 2>/dev/null; true`;

for (const as of USERS) {
  describe(`trees deeper than PATH_MAX made inside (${as})`, () => {
    const sb = sandbox(as);

    test("cm delete removes a bundle whose root filesystem holds one", () => {
      const c = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(c.status, 0, c.stderr);
      const r = sb.cm(["run", "--", "sh", "-c", `cd /root && ${NEST}`]);
      assert.equal(r.status, 0, r.stderr);
      const d = sb.cm(["delete"]);
      assert.equal(d.status, 0, d.stderr);
      const data = join(sb.env.CM_HOME as string, "proj");
      const left = existsSync(data) ? readdirSync(data).filter((n) => !n.endsWith(".lock")) : [];
      assert.deepEqual(left, [], "nothing left of the bundle");
    });

    test("--review: the run's end, cm diff and cm apply say so in one line; cm discard removes it", () => {
      const c = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(c.status, 0, c.stderr);
      const r = sb.cm(["run", "--review", "--", "sh", "-c", `cd /project && ${NEST}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /too deep for cm to diff or apply/);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
      for (const cmd of ["diff", "apply"]) {
        const x = sb.cm([cmd]);
        assert.equal(x.status, 125, x.stderr);
        assert.ok(isOneLineError(x.stderr), x.stderr);
        assert.match(x.stderr, /too deep for cm to diff or apply/);
      }
      const d = sb.cm(["discard"]);
      assert.equal(d.status, 0, d.stderr);
      const reviews = join(sb.env.CM_HOME as string, ".reviews");
      assert.deepEqual(existsSync(reviews) ? readdirSync(reviews) : [], [], "nothing left of the review");
      assert.deepEqual(readdirSync(sb.project), [], "the project untouched");
      const del = sb.cm(["delete"]);
      assert.equal(del.status, 0, del.stderr);
    });
  });
}
