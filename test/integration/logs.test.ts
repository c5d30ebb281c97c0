import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { finished, fixtures, isOneLineError, sandbox, spawnUntilReady, USERS, waitFor } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm logs (${as})`, () => {
    const sb = sandbox(as, "logsproj");
    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("stdout and stderr of a detached run, while it runs and after it ended, until gc", async () => {
      const id = sb.cm(["run", "-d", "--", "sh", "-c", "echo out; echo err >&2; sleep 1; echo done"]).stdout.trim();
      // stdout and stderr are copied by the runtime separately: their relative order is not kept
      const lines = (text: string) => [...text.trim().split("\n").slice(0, 2).sort(), ...text.trim().split("\n").slice(2)];
      await waitFor("first output", () => /out/.test(sb.cm(["logs", id]).stdout) && /err/.test(sb.cm(["logs", id]).stdout));
      assert.deepEqual(lines(sb.cm(["logs", id]).stdout), ["err", "out"]);
      const follow = await finished(sb.spawn(["logs", "-f", id]));
      assert.equal(follow.status, 0, follow.stderr);
      assert.deepEqual(lines(follow.stdout), ["err", "out", "done"]);
      assert.deepEqual(lines(sb.cm(["logs", id]).stdout), ["err", "out", "done"]);
      const gc = sb.cm(["gc"]);
      assert.match(gc.stdout, new RegExp(`removed run ${id}`));
      const after = sb.cm(["logs", id]);
      assert.equal(after.status, 125);
      assert.ok(isOneLineError(after.stderr), after.stderr);
    });

    test("-f follows until the container ends, then exits", async () => {
      const id = sb.cm(["run", "-d", "--", "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.3; done"]).stdout.trim();
      const r = await finished(sb.spawn(["logs", "--follow", id]));
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "line 1\nline 2\nline 3\n");
    });

    test("a foreground run has no log; unknown containers are clear errors", async () => {
      const { child, done } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", "echo ready; sleep 30"], "the container");
      const r = sb.cm(["logs", "default"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /not started with --detach/);
      child.kill("SIGTERM");
      await done;
      for (const args of [["logs", "nosuch"], ["logs"], ["logs", "a", "b"]]) {
        const e = sb.cm(args);
        assert.equal(e.status, 125);
        assert.ok(isOneLineError(e.stderr), e.stderr);
        if (args[1] === "nosuch")
          assert.match(
            e.stderr,
            /^cm: no container "nosuch": not an ID, ID prefix or bundle name in project \S+ \(see cm ps --all for IDs\)$/m,
          );
      }
    });

    test("a run refused before its start is one line and leaves no container for logs (the runtime's failures: machine.test.ts)", () => {
      const before = sb.cm(["ps", "--all", "--json"]).stdout;
      const r = sb.cm(["run", "-d", "-v", `${sb.mkdir("a-dir")}:/etc/passwd`, "--", "true"]);
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /a directory can only be mounted on a directory/);
      assert.equal(sb.cm(["ps", "--all", "--json"]).stdout, before);
    });
  });
}
