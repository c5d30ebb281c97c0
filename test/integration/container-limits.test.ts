/**
 * A container cannot make cm fail or fill the host (issue 12, 4): a tree deeper than PATH_MAX is
 * removed by delete and gc; a detached run's log is bounded by default and by --log-max-size.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS, waitFor, writeProjectFile } from "../helpers/cm.ts";

/** Inside: /root/a(20 chars) nested 371 deep (7.4 KB of path), made by wrapping so no path is ever long. */
const DEEP =
  "cd /root; n=aaaaaaaaaaaaaaaaaaaa; mkdir $n; i=1; while [ $i -lt 371 ]; do mkdir w && mv $n w/ && mv w $n || exit 1; i=$((i+1)); done; chmod 000 $n";

for (const as of USERS) {
  describe(`what a container leaves (${as})`, () => {
    const sb = sandbox(as);
    const data = sb.env.CM_HOME as string;
    const runs = join(sb.env.CM_STATE_DIR as string, "runs");
    const ok = (args: string[]) => {
      const r = sb.cm(args);
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    const create = () => ok(["create", "-q", "--force", "--from", `dir:${fixtures.busybox}`]);

    test("a 371-level deep tree made inside: cm delete removes it", () => {
      create();
      ok(["run", "--", "sh", "-c", DEEP]);
      const r = sb.cm(["delete"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(join(data, "proj")), false);
    });

    test("a 371-level deep tree in an interrupted delete's leftover: cm gc removes it", () => {
      create();
      ok(["run", "--", "sh", "-c", DEEP]);
      // as a cm delete killed after its rename (pid 4194303: not running)
      const aside = join(data, "proj", ".default.deleting-4194303");
      renameSync(join(data, "proj", "default"), aside);
      const r = sb.cm(["gc"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(aside), false, r.stdout + r.stderr);
    });

    test("cm run -d -- yes: the log stays bounded by default (10 MiB per file, two files)", async () => {
      create();
      const id = ok(["run", "-d", "--", "yes"]).trim();
      const dir = join(runs, id);
      // the two files the log is (a rotation's container.log.1.tmp is a second link to container.log,
      // there for a moment: counting it would count the same bytes twice)
      const total = () =>
        readdirSync(dir)
          .filter((n) => n === "container.log" || n === "container.log.1")
          .reduce((s, n) => s + statSync(join(dir, n)).size, 0);
      // until the first rotation happened (10 MiB written), then some more
      await waitFor("the log to rotate", () => existsSync(join(dir, "container.log.1")), 60_000);
      await new Promise((r) => setTimeout(r, 1000));
      assert.ok(total() <= 20 * 1024 * 1024, `log is ${total()} bytes`);
      ok(["stop", "--time", "0", id]);
      assert.ok(total() <= 20 * 1024 * 1024, `log is ${total()} bytes`);
      ok(["gc"]);
    });

    test("--log-max-size: two files of at most that size, the newest lines kept; refused without -d", async () => {
      const id = ok([
        "run",
        "-d",
        "--log-max-size",
        "8k",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 5000 ]; do echo line $i; i=$((i+1)); done",
      ]).trim();
      const dir = join(runs, id);
      await waitFor("the run to end", () => existsSync(join(dir, "exit.json")));
      for (const n of ["container.log", "container.log.1"]) assert.ok(statSync(join(dir, n)).size <= 8192);
      const out = ok(["logs", id]);
      assert.match(out, /line 4999\n$/);
      assert.doesNotMatch(out, /^line 0$/m, "the oldest output was dropped");
      const lines = out.trim().split("\n");
      // contiguous from the old file into the current one (the first line may be cut: skipped)
      const from = Number(lines[1]?.split(" ")[1]);
      for (const [i, l] of lines.slice(1).entries()) assert.equal(l, `line ${from + i}`);
      const r = sb.cm(["run", "--log-max-size", "8k", "--", "true"]);
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /--log-max-size needs --detach/);
      ok(["gc"]);
    });

    test("a post_create container left running by a killed cm create is stopped before the next create removes its tree", async () => {
      // a sleep no other test runs: its pids are this post_create's
      const marker = as === "root" ? "3141592" : "2718281";
      const sleeping = () => {
        try {
          return execFileSync("pgrep", ["-f", `^sleep ${marker}$`], { encoding: "utf8" })
            .trim()
            .split("\n")
            .filter(Boolean);
        } catch {
          return [];
        }
      };
      writeProjectFile(sb, `[bundle.pc.create]\nfrom = "dir:${fixtures.busybox}"\npost_create = ["sleep ${marker}"]\n`);
      const child = sb.spawn(["create", "pc"]);
      child.stdin?.end();
      // 'exit', not the end of its output: the runtime it leaves behind holds the pipes
      const exited = new Promise((resolve) => child.once("exit", resolve));
      await waitFor("the post_create command to run", () => sleeping().length > 0, 60_000);
      // kill -9 of cm (as the user would): its runtime and the container stay
      execFileSync("kill", ["-9", String(child.pid)]);
      await exited;
      assert.ok(sleeping().length > 0, "the post_create container outlived its cm");
      writeProjectFile(sb, `[bundle.pc.create]\nfrom = "dir:${fixtures.busybox}"\n`);
      const r = sb.cm(["create", "pc", "-q"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(sleeping(), [], "a container kept running in a removed tree");
      rmSync(join(sb.project, "cm.toml"));
      ok(["gc"]);
    });

    // Rootless runc makes no cgroups on a cgroup v1 host without delegation: there the case is that
    // nothing is left to remove (asserted, not skipped).
    test("runtime state lost (monitor, runc and container killed): cm gc removes the container's cgroups", async () => {
      create();
      const id = ok(["run", "-d", "--", "sleep", "1000"]).trim();
      const dir = join(runs, id);
      const record = JSON.parse(readFileSync(join(dir, "run.json"), "utf8")) as { cmPid: number };
      const init = Number(readFileSync(join(dir, "pid"), "utf8"));
      const cgroups = () =>
        [join("/sys/fs/cgroup", id), ...readdirSync("/sys/fs/cgroup").map((c) => join("/sys/fs/cgroup", c, id))].filter((p) =>
          existsSync(p),
        );
      if (as === "rootless" && !existsSync("/sys/fs/cgroup/cgroup.controllers")) {
        assert.deepEqual(cgroups(), [], "rootless runc on cgroup v1 makes no cgroups");
        ok(["stop", id]);
        ok(["gc"]);
        return;
      }
      assert.ok(cgroups().length > 0, "the container has cgroups");
      const runcPid = execFileSync("pgrep", ["-P", String(record.cmPid)], { encoding: "utf8" })
        .trim()
        .split("\n")
        .map(Number);
      for (const pid of [record.cmPid, ...runcPid, init]) process.kill(pid, "SIGKILL");
      await waitFor("the container to end", () => !existsSync(`/proc/${init}`));
      rmSync(join(sb.env.CM_STATE_DIR as string, "runc", id), { recursive: true, force: true });
      const r = sb.cm(["gc"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`removed cgroup /sys/fs/cgroup/.*${id}`));
      assert.deepEqual(cgroups(), []);
    });
  });
}
