import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, spawnUntilReady, USERS } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm delete (${as})`, () => {
    test("no argument: every bundle of this project; no state left behind", () => {
      const sb = sandbox(as);
      for (const b of ["default", "two"]) assert.equal(sb.cm(["create", b, "--from", `dir:${fixtures.busybox}`]).status, 0);
      const r = sb.cm(["delete"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(sb.env.CM_HOME as string), []);
      assert.deepEqual(JSON.parse(sb.cm(["list", "--json"]).stdout), []);
    });

    test("PROJECT BUNDLE removes one bundle, PROJECT the rest, from any directory", () => {
      const sb = sandbox(as, "multi");
      for (const b of ["a", "b"]) assert.equal(sb.cm(["create", b, "--from", `dir:${fixtures.busybox}`]).status, 0);
      const elsewhere = sb.mkdir("elsewhere");
      assert.equal(sb.cm(["delete", "multi", "a"], { cwd: elsewhere }).status, 0);
      assert.deepEqual(readdirSync(join(sb.env.CM_HOME as string, "multi")), ["b"]);
      assert.equal(sb.cm(["delete", "multi"], { cwd: elsewhere }).status, 0);
      assert.ok(!existsSync(join(sb.env.CM_HOME as string, "multi")));
    });

    test("stops running containers first, and never touches the project directory", async () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const { done } = await spawnUntilReady(
        sb,
        ["run", "--", "sh", "-c", "echo data > /project/keep.txt; echo ready; exec sleep 300"],
        "the container to start",
      );
      const r = sb.cm(["delete", "--time", "1"]);
      assert.equal(r.status, 0, r.stderr);
      const ended = await done;
      assert.equal(ended.status, 143); // the init passes SIGTERM on to sleep, which ends at once
      assert.equal(readFileSync(join(sb.project, "keep.txt"), "utf8"), "data\n");
      assert.deepEqual(readdirSync(join(sb.env.CM_STATE_DIR as string, "runs")), []);
      const runc = sb.exec("/usr/sbin/runc", ["--root", join(sb.env.CM_STATE_DIR as string, "runc"), "list", "-q"]);
      assert.equal(runc.stdout.trim(), "");
    });

    test("a container that handles SIGTERM ends within the grace period", async () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const { done } = await spawnUntilReady(
        sb,
        ["run", "--", "sh", "-c", "trap 'exit 0' TERM; echo ready; while :; do sleep 0.1; done"],
        "the container to start",
      );
      assert.equal(sb.cm(["delete", "--time", "30"]).status, 0);
      assert.equal((await done).status, 0);
    });

    test("removes files a rootless container made hard to remove (mode 000 directories)", () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const r = sb.cm(["run", "--", "sh", "-c", "mkdir -p /locked/deep && touch /locked/deep/f && chmod 000 /locked/deep /locked"]);
      assert.equal(r.status, 0, r.stderr);
      const d = sb.cm(["delete"]);
      assert.equal(d.status, 0, d.stderr);
      assert.deepEqual(readdirSync(sb.env.CM_HOME as string), []);
    });

    test("without a name, a project of the same name in another directory is not deleted", () => {
      const sb = sandbox(as, "same");
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const twin = sb.mkdir("twin", "same");
      const r = sb.cm(["delete"], { cwd: twin });
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /belongs to .*cm delete "same"/);
      assert.deepEqual(readdirSync(join(sb.env.CM_HOME as string, "same")), ["default"]);
      assert.equal(sb.cm(["delete", "same"], { cwd: twin }).status, 0);
    });

    test("deleting what does not exist: one-line error, non-zero exit", () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      for (const args of [
        ["delete", "nope"],
        ["delete", "proj", "nope"],
        ["delete", ".."],
        ["delete", "a/b"],
        ["delete", ""],
        ["delete", "--time", "x"],
        ["delete", "proj", "default", "extra"],
      ]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), `${args.join(" ")}: ${r.stderr}`);
      }
      assert.match(sb.cm(["delete", "proj", "nope"]).stderr, /existing bundles: default/);
      assert.deepEqual(readdirSync(join(sb.env.CM_HOME as string, "proj")), ["default"]);
    });
  });
}
