import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, runscBundle, sandbox, spawnUntilReady, USERS, waitFor } from "../helpers/cm.ts";

/** A pid that is not in use (a short-lived process that has ended). */
function deadPid(): number {
  let pid = 999_999;
  while (existsSync(`/proc/${pid}`)) pid--;
  return pid;
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

for (const as of USERS) {
  describe(`cm gc (${as})`, () => {
    const sb = sandbox(as, "gcproj");
    const state = sb.env.CM_STATE_DIR as string;
    const runs = () => readdirSync(join(state, "runs"));
    const psAll = () => JSON.parse(sb.cm(["ps", "--all", "--json"]).stdout) as { id: string; status: string; pid: number | null }[];
    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("a reviews directory it cannot read (a link loop) does not stop cm gc", () => {
      const loop = join(state, "reviews");
      sb.exec("ln", ["-s", "reviews", loop]);
      const r = sb.cm(["gc"]);
      sb.exec("rm", [loop]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /internal error/);
    });

    test("nothing to do: no output, exit 0", () => {
      const r = sb.cm(["gc"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "");
      assert.ok(isOneLineError(sb.cm(["gc", "extra"]).stderr));
    });

    test("cm run killed with SIGKILL: the container keeps running (gc keeps it); once it ends gc removes the run", async () => {
      const { child } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", "echo ready; sleep 2"], "the container");
      const [id] = runs();
      child.kill("SIGKILL");
      await waitFor("cm to die", () => !alive(child.pid as number));
      assert.equal(psAll().find((e) => e.id === id)?.status, "running");
      const kept = sb.cm(["gc"]);
      assert.equal(kept.stdout, "");
      assert.match(kept.stderr, new RegExp(`kept ${id} still runs without its cm`));
      assert.ok(runs().includes(id as string));
      await waitFor("the container to end", () => psAll().find((e) => e.id === id)?.status === "gone");
      const r = sb.cm(["gc"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`removed run ${id} \\(its cm was killed, gcproj/default\\)`));
      assert.deepEqual(runs(), []);
      assert.equal(existsSync(join(state, "runc", id as string)), false);
    });

    test("cm and runc both killed with SIGKILL: gc removes the stale runc state and the run dir", async () => {
      const { child } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", "echo ready; sleep 2"], "the container");
      const [id] = runs();
      const runcPids = childrenOf(child.pid as number);
      assert.equal(runcPids.length, 1);
      child.kill("SIGKILL");
      process.kill(runcPids[0] as number, "SIGKILL");
      await waitFor("the container to end", () => psAll().find((e) => e.id === id)?.status === "gone");
      assert.ok(existsSync(join(state, "runc", id as string)), "runc's state is left behind");
      const r = sb.cm(["gc"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`removed runtime state of ${id}`));
      assert.match(r.stdout, new RegExp(`removed run ${id}`));
      assert.equal(existsSync(join(state, "runc", id as string)), false);
      assert.deepEqual(runs(), []);
    });

    test("a killed cm whose container still runs: cm stop stops it, then gc removes it", async () => {
      const { child } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", "echo ready; sleep 60"], "the container");
      const [id] = runs();
      child.kill("SIGKILL");
      await waitFor("cm to die", () => !alive(child.pid as number));
      assert.equal(sb.cm(["stop", "--time", "0", id as string]).status, 0);
      assert.match(sb.cm(["gc"]).stdout, new RegExp(`removed run ${id}`));
      assert.deepEqual(runs(), []);
    });

    test("exited detached runs and their logs are removed; running ones are kept", async () => {
      const done = sb.cm(["run", "-d", "--", "true"]).stdout.trim();
      const live = sb.cm(["run", "-d", "--", "sleep", "60"]).stdout.trim();
      await waitFor("the quick one to exit", () => psAll().find((e) => e.id === done)?.status === "exited");
      const r = sb.cm(["gc"]);
      assert.match(r.stdout, new RegExp(`removed run ${done} \\(exited 0`));
      assert.doesNotMatch(r.stdout, new RegExp(live));
      assert.deepEqual(runs(), [live]);
      assert.equal(sb.cm(["stop", "--time", "0", live]).status, 0);
      // SIGTERM (the init passes it on: 143) or, with no grace period, SIGKILL (137)
      assert.match(sb.cm(["gc"]).stdout, new RegExp(`removed run ${live} \\(exited (143|137)`));
    });

    test("runtime state without a run record is removed", () => {
      const id = sb.cm(["run", "-d", "--", "sleep", "60"]).stdout.trim();
      // the record lost (as if its directory was removed by hand): the container is cm's, so gc stops it
      sb.exec("rm", ["-rf", join(state, "runs", id)]);
      assert.ok(existsSync(join(state, "runc", id)));
      const r = sb.cm(["gc"]);
      assert.match(r.stdout, new RegExp(`removed runtime state of ${id} \\(no run record\\)`));
      assert.equal(existsSync(join(state, "runc", id)), false);
    });

    test("runsc: state without a run record is found (runsc keeps files, not a directory) and removed", () => {
      const id = sb.cm(["run", "-d", "--runtime", "runsc", ...runscBundle(sb), "--", "sleep", "60"]).stdout.trim();
      assert.match(id, /^[0-9a-f]{12}$/);
      const root = join(state, "runtime-runsc");
      const stateFiles = () => readdirSync(root).filter((n) => n.startsWith(`${id}_`));
      assert.ok(stateFiles().length > 0);
      sb.exec("rm", ["-rf", join(state, "runs", id)]);
      const r = sb.cm(["gc"]);
      assert.match(r.stdout, new RegExp(`removed runtime state of ${id} \\(no run record\\)`));
      assert.deepEqual(stateFiles(), []);
    });

    test("interrupted creates and deletes (dead pid) are removed; a live one is kept", () => {
      const data = sb.env.CM_HOME as string;
      const pdir = join(data, "gcproj");
      const dead = deadPid();
      const creating = join(pdir, `.web.creating-${dead}`);
      const deleting = join(pdir, `.old.deleting-${dead}`);
      const live = join(pdir, `.busy.creating-${process.pid}`);
      for (const d of [creating, deleting, live]) {
        sb.exec("mkdir", ["-p", join(d, "rootfs", "etc")]);
        sb.exec("chmod", ["000", join(d, "rootfs", "etc")]);
      }
      // a run directory a killed cm was still filling (it is renamed in only with its run.json)
      sb.exec("mkdir", ["-p", join(state, "runs", `.0123456789ab.making-${dead}`)]);
      sb.exec("touch", [join(state, "runs", `.0123456789ab.making-${dead}`, "hosts")]);
      const r = sb.cm(["gc"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^removed interrupted start of run directory 0123456789ab$/m);
      assert.match(r.stdout, /removed interrupted create of gcproj\/web/);
      assert.match(r.stdout, /removed interrupted delete of gcproj\/old/);
      assert.equal(existsSync(creating), false);
      assert.equal(existsSync(deleting), false);
      assert.equal(existsSync(live), true);
      sb.exec("chmod", ["-R", "u+rwX", live]);
      sb.exec("rm", ["-rf", live]);
      // the bundle itself is untouched
      assert.equal(sb.cm(["run", "--", "true"]).status, 0);
    });

    test("cm create and cm run -d collect quietly: interrupted creates go, exited logs stay", async () => {
      const pdir = join(sb.env.CM_HOME as string, "gcproj");
      const creating = join(pdir, `.web.creating-${deadPid()}`);
      sb.exec("mkdir", ["-p", creating]);
      const exited = sb.cm(["run", "-d", "--", "true"]).stdout.trim();
      await waitFor("it to exit", () => psAll().find((e) => e.id === exited)?.status === "exited");
      const r = sb.cm(["create", "second", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(existsSync(creating), false);
      assert.ok(runs().includes(exited));
      sb.exec("mkdir", ["-p", creating]);
      const live = sb.cm(["run", "-d", "--", "sleep", "60"]).stdout.trim();
      assert.equal(existsSync(creating), false);
      assert.ok(runs().includes(exited));
      assert.equal(sb.cm(["stop", "--time", "0", live]).status, 0);
    });
  });
}
