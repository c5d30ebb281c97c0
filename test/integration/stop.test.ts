import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { finished, fixtures, isOneLineError, runscBundle, sandbox, spawnUntilReady, USERS, waitFor } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm stop (${as})`, () => {
    const sb = sandbox(as, "stopproj");
    const state = sb.env.CM_STATE_DIR as string;
    const exitOf = (id: string) => {
      const r = sb.cm(["ps", "--all", "--json"]);
      return (JSON.parse(r.stdout) as { id: string; exitCode: number | null; status: string }[]).find((e) => e.id === id);
    };
    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("SIGTERM ends a cooperating container: 143 recorded, runtime state removed", () => {
      const id = sb.cm(["run", "-d", "--", "sh", "-c", "trap 'exit 143' TERM; while :; do sleep 0.1; done"]).stdout.trim();
      const r = sb.cm(["stop", id]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, `${id}\n`);
      assert.equal(exitOf(id)?.exitCode, 143);
      assert.equal(existsSync(join(state, "runc", id)), false);
    });

    test("a container whose cm was killed: cm stop records it, and cm ps says what is known", async () => {
      const id = sb.cm(["run", "-d", "--", "sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]).stdout.trim();
      const monitor = (JSON.parse(readFileSync(join(state, "runs", id, "run.json"), "utf8")) as { cmPid: number }).cmPid;
      process.kill(monitor, "SIGKILL");
      await waitFor("the monitor to end", () => !existsSync(`/proc/${monitor}`));
      const r = sb.cm(["stop", "--time", "5", id]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(exitOf(id)?.status, "exited");
      assert.equal(exitOf(id)?.exitCode, null);
      assert.match(sb.cm(["ps", "-a"]).stdout, new RegExp(`^${id}\\s.*exited \\(stopped by cm stop, status not seen\\)`, "m"));
    });

    test("a process ignoring SIGTERM is killed after the grace period: 137", () => {
      const id = sb.cm(["run", "-d", "--", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]).stdout.trim();
      const r = sb.cm(["stop", "-t", "1", id]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(exitOf(id)?.status, "exited");
      assert.equal(exitOf(id)?.exitCode, 137);
      assert.equal(existsSync(join(state, "runc", id)), false);
    });

    test("a foreground run stopped from elsewhere: cm run ends with the container's status", async () => {
      const { done } = await spawnUntilReady(
        sb,
        ["run", "--", "sh", "-c", "echo ready; trap '' TERM; while :; do sleep 0.1; done"],
        "the container",
      );
      const stop = sb.cm(["stop", "--time", "0", "default"]);
      assert.equal(stop.status, 0, stop.stderr);
      const r = await done;
      assert.equal(r.status, 137);
      assert.deepEqual(
        readdirSync(join(state, "runs")).filter((id) => exitOf(id)?.status !== "exited"),
        [],
      );
    });

    test("a container still starting: cm stop waits until it runs, then stops it (it never starts after the stop)", async () => {
      // a runtime slow to start: `run` waits 2 s before the real runc creates the container
      const real = ["/usr/local/sbin/runc", "/usr/sbin/runc", "/usr/bin/runc"].find((p) => existsSync(p)) as string;
      const dir = sb.mkdir("slow-runc");
      const runc = join(dir, "runc");
      writeFileSync(runc, `#!/bin/sh\ncase " $* " in *" run "*) sleep 2 ;; esac\nexec ${real} "$@"\n`, { mode: 0o755 });
      const child = sb.spawn(["run", "--runtime", runc, "--", "sleep", "60"]);
      child.stdin?.end();
      const done = finished(child);
      const starting = () => (JSON.parse(sb.cm(["ps", "--json"]).stdout) as { status: string }[]).some((c) => c.status === "starting");
      await waitFor("the run to be starting", starting);
      const stop = sb.cm(["stop", "-t", "1", "default"]);
      assert.equal(stop.status, 0, stop.stderr);
      const r = await done;
      assert.equal(r.status, 143, r.stderr);
      assert.equal(r.stderr, "");
    });

    test("runsc: stop works the same", () => {
      const id = sb
        .cm(["run", ...runscBundle(sb), "-d", "--runtime", "runsc", "--", "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
        .stdout.trim();
      assert.match(id, /^[0-9a-f]{12}$/);
      assert.equal(sb.cm(["stop", "--time", "1", id]).status, 0);
      assert.equal(exitOf(id)?.status, "exited");
      // runsc keeps <id>_sandbox:<id>.state files, not a directory
      assert.deepEqual(
        readdirSync(join(state, "runtime-runsc")).filter((n) => n.startsWith(id)),
        [],
      );
    });

    test("errors: unknown, already stopped, bad --time", () => {
      const id = sb.cm(["run", "-d", "--", "true"]).stdout.trim();
      for (const [args, why] of [
        [
          ["stop", "nosuch"],
          /^cm: no running or starting container "nosuch": not an ID, ID prefix or bundle name in project stopproj \(see cm ps --all for IDs\)$/m,
        ],
        [["stop"], /no container given/],
        [["stop", id, "--time", "-1"], /--time|argument/],
        [["stop", id, "--time", "soon"], /invalid --time "soon"/],
        [["stop", "a", "b"], /unexpected argument "b"/],
      ] as [string[], RegExp][]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, why);
      }
    });

    test("cm delete stops running detached containers and removes their records", () => {
      const id = sb.cm(["run", "-d", "--", "sh", "-c", "trap '' TERM; sleep 60"]).stdout.trim();
      const r = sb.cm(["delete", "--time", "1"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(join(state, "runs", id)), false);
      assert.equal(existsSync(join(state, "runc", id)), false);
      assert.deepEqual(JSON.parse(sb.cm(["ps", "--all", "--json"]).stdout), []);
    });
  });
}
