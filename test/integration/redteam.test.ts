/**
 * Attacks from the red-team review, each as root and as the unprivileged user: hostile code in a
 * container racing what cm does on the host. Every case failed on main before its fix.
 */
import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS, waitFor } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`red team (${as})`, () => {
    const sb = sandbox(as, "rtproj");
    const detached: string[] = [];
    after(() => {
      for (const id of detached) sb.cm(["stop", id, "--time", "0"]);
      sb.cm(["delete", "--time", "0"]);
    });

    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("cm apply: a parent swapped for a symlink by another container during the apply is not followed", async () => {
      // a directory of the user's outside the project: where the swapped link points
      const outside = sb.mkdir("outside");
      sb.exec("mkdir", [join(sb.project, "a")]);
      const r = sb.cm(["run", "--review", "--", "sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo pwn > /project/a/f$i; i=$((i+1)); done"]);
      assert.equal(r.status, 0, r.stderr);
      const id = /cm apply ([0-9a-f]+)/.exec(r.stderr)?.[1];
      assert.ok(id, r.stderr);
      // another (ordinary) container of the project: it writes /project, so it can wait for cm
      // apply's staging directory and then swap a/ for a symlink to a host directory
      const attacker = [
        "touch /project/ready;",
        'while :; do for s in /project/.cm-apply-*; do if [ -d "$s" ]; then',
        `mv /project/a /project/a_real && ln -s ${outside} /project/a && touch /project/swapped; exit 0;`,
        "fi; done; done",
      ].join(" ");
      const d = sb.cm(["run", "-d", "--", "sh", "-c", attacker]);
      assert.equal(d.status, 0, d.stderr);
      detached.push(d.stdout.trim());
      await waitFor("the attacking container to start", () => existsSync(join(sb.project, "ready")), 60_000);

      const a = sb.cm(["apply", id]);
      await waitFor("the attacker to swap a/", () => existsSync(join(sb.project, "swapped")), 60_000);
      assert.ok(lstatSync(join(sb.project, "a")).isSymbolicLink(), "the attacker swapped a/ for a symlink");
      assert.deepEqual(readdirSync(outside), [], "cm apply wrote through a symlink the container put in the project");
      assert.equal(a.status, 125, a.stderr);
      assert.ok(isOneLineError(a.stderr) && a.stderr.includes("no longer a directory"), a.stderr);
      assert.ok(!readdirSync(sb.project).some((n) => n.startsWith(".cm-apply-")), "the staging directory is removed");
    });
  });
}
