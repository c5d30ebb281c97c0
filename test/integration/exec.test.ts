import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, runscBundle, sandbox, USERS } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm exec (${as})`, () => {
    const sb = sandbox(as, "execproj");
    let id = "";
    test("setup: a detached container", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const r = sb.cm(["run", "-d", "-e", "FROM_RUN=yes", "--", "sh", "-c", "echo started > /tmp/marker; sleep 60"]);
      assert.equal(r.status, 0, r.stderr);
      id = r.stdout.trim();
    });

    test("runs in the container: its files, environment and working directory", () => {
      const r = sb.cm(["exec", id, "--", "sh", "-c", "cat /tmp/marker; echo $FROM_RUN; pwd; echo x > /project/from-exec"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "started\nyes\n/project\n");
      assert.equal(readFileSync(join(sb.project, "from-exec"), "utf8"), "x\n");
    });

    test("exit status, 127 and 126, stdin", () => {
      assert.equal(sb.cm(["exec", id, "--", "sh", "-c", "exit 7"]).status, 7);
      const missing = sb.cm(["exec", id, "--", "no-such-cmd"]);
      assert.equal(missing.status, 127);
      assert.ok(isOneLineError(missing.stderr), missing.stderr);
      assert.equal(sb.cm(["exec", id, "--", "/etc/passwd"]).status, 126);
      const cat = sb.cm(["exec", id, "--", "cat"], { input: "piped\n" });
      assert.equal(cat.stdout, "piped\n");
      assert.equal(sb.cm(["exec", id, "--", "sh", "-c", "kill -KILL $$"]).status, 137);
    });

    test("CONTAINER as a unique prefix or the bundle name", () => {
      assert.equal(sb.cm(["exec", id.slice(0, 4), "--", "true"]).status, 0);
      assert.equal(sb.cm(["exec", "default", "--", "true"]).status, 0);
    });

    test("terminal: -t under script gives one; -t without one is an error", () => {
      const t = sb.exec("script", ["-qec", `${fixtures.bin} exec -t ${id} -- sh -c 'test -t 0 && echo tty'`, "/dev/null"]);
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, /tty/);
      const r = sb.cm(["exec", "-t", id, "--", "true"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /--tty needs a terminal/);
    });

    test("ambiguous or unknown containers are clear errors", () => {
      const second = sb.cm(["run", "-d", "--", "sleep", "60"]).stdout.trim();
      const amb = sb.cm(["exec", "default", "--", "true"]);
      assert.equal(amb.status, 125);
      assert.ok(isOneLineError(amb.stderr), amb.stderr);
      assert.match(amb.stderr, /matches 2 containers/);
      assert.doesNotMatch(amb.stderr, /\)\)/);
      for (const [args, why] of [
        [["exec", "nosuch", "--", "true"], /no running container "nosuch"/],
        [["exec", id], /no command given/],
        [["exec", "--", "true"], /no container given/],
        [["exec", id, "true"], /put the command after --/],
        [["exec", "../x", "--", "true"], /invalid container/],
      ] as [string[], RegExp][]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, why);
      }
      assert.equal(sb.cm(["stop", "--time", "0", second]).status, 0);
    });

    test("a stopped container cannot be exec'd into", () => {
      assert.equal(sb.cm(["stop", "--time", "0", id]).status, 0);
      const r = sb.cm(["exec", id, "--", "true"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /not running: its status is exited/);
    });

    test("runsc (gVisor): exec into a detached container", () => {
      const g = sb.cm(["run", "-d", "--runtime", "runsc", ...runscBundle(sb), "--", "sleep", "60"]);
      assert.equal(g.status, 0, g.stderr);
      const gid = g.stdout.trim();
      const r = sb.cm(["exec", gid, "--", "sh", "-c", "dmesg | head -1; exit 5"]);
      assert.equal(r.status, 5, r.stderr);
      assert.match(r.stdout, /gVisor|Starting/);
      assert.equal(sb.cm(["exec", gid, "--", "no-such-cmd"]).status, 127);
      assert.equal(sb.cm(["stop", "--time", "1", gid]).status, 0);
    });
  });
}
