import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { projectKey } from "../../src/core/names.ts";
import { finished, fixtures, isOneLineError, sandbox, USERS, waitFor } from "../helpers/cm.ts";
import { validateOciConfig } from "../helpers/oci-schema.ts";

for (const as of USERS) {
  describe(`cm create (${as})`, () => {
    test("default source: a Debian bookworm minbase bootstrapped with mmdebstrap; runs with the project at /project", () => {
      const sb = sandbox(as, "deb app");
      const r = sb.cm(["create"]);
      assert.equal(r.status, 0, r.stderr);
      const dir = join(sb.env.CM_HOME as string, projectKey("deb app"), "default");
      assert.deepEqual(readdirSync(dir).sort(), ["config.json", "rootfs"]);
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      assert.deepEqual(validateOciConfig(config), []);
      assert.equal(config.root.path, "rootfs");
      const run = sb.cm(["run", "--", "sh", "-c", "cat /etc/debian_version; ls -ld /project | cut -c1"]);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^12\.\d+\nd\n$/);
      // the rootfs belongs to the invoking user
      assert.equal(statSync(join(dir, "rootfs/etc/passwd")).uid, sb.uid);
    });

    test("tar source, an existing bundle is an error, --force rebuilds it", () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "dev", "--from", `tar:${fixtures.debianTar}`]).status, 0);
      assert.equal(sb.cm(["run", "dev", "--", "touch", "/marker"]).status, 0);
      const again = sb.cm(["create", "dev", "--from", `tar:${fixtures.debianTar}`]);
      assert.equal(again.status, 125);
      assert.ok(isOneLineError(again.stderr), again.stderr);
      assert.match(again.stderr, /already exists.*--force/);
      const forced = sb.cm(["create", "dev", "--force", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(forced.status, 0, forced.stderr);
      const check = sb.cm(["run", "dev", "--", "sh", "-c", "test -e /marker && echo kept || echo fresh"]);
      assert.equal(check.stdout.trim(), "fresh");
    });

    test("atomic: a create killed midway leaves no bundle that run accepts, and the next create succeeds", async () => {
      const sb = sandbox(as);
      const child = sb.spawn(["create", "--from", `tar:${fixtures.debianTar}`]);
      const key = join(sb.env.CM_HOME as string, "proj");
      await waitFor("the create to start writing", () => existsSync(key) && readdirSync(key).some((n) => n.includes("creating")));
      child.kill("SIGKILL");
      await finished(child);
      assert.ok(!existsSync(join(key, "default")));
      const run = sb.cm(["run", "--", "true"]);
      assert.equal(run.status, 125);
      assert.match(run.stderr, /no bundle "default"/);
      const list = sb.cm(["list", "--json"]);
      assert.deepEqual(JSON.parse(list.stdout), []);
      const again = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(sb.cm(["run", "--", "true"]).status, 0);
    });

    test("a create interrupted with SIGINT removes its work directory", async () => {
      const sb = sandbox(as);
      const child = sb.spawn(["create", "--from", `tar:${fixtures.debianTar}`]);
      const key = join(sb.env.CM_HOME as string, "proj");
      await waitFor("the create to start writing", () => existsSync(key) && readdirSync(key).some((n) => n.includes("creating")));
      child.kill("SIGINT");
      const r = await finished(child);
      assert.notEqual(r.status, 0);
      assert.deepEqual(readdirSync(key), []);
    });

    test("bad input: one-line errors, non-zero exit, nothing created", () => {
      const sb = sandbox(as);
      for (const args of [
        ["create", ".."],
        ["create", "a/b"],
        ["create", ""],
        ["create", "-x"],
        ["create", "--bogus"],
        ["create", "--from", "nowhere:x"],
        ["create", "--from", "tar:/does/not/exist.tar"],
        ["create", "--from", "dir:/does/not/exist"],
        ["create", "--from", "dir:/"],
        ["create", "--from", "dir:/proc"],
        ["create", "--from", `dir:${fixtures.busybox}`, "--packages", "curl"],
        ["create", "--project", "..", "--from", `dir:${fixtures.busybox}`],
        ["create", "--project", "a/b", "--from", `dir:${fixtures.busybox}`],
        ["create", "one", "two"],
      ]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), `${args.join(" ")}: ${r.stderr}`);
      }
      assert.ok(
        !existsSync(sb.env.CM_HOME as string) ||
          readdirSync(sb.env.CM_HOME as string).every((p) => readdirSync(join(sb.env.CM_HOME as string, p)).length === 0),
      );
    });

    test("the same directory name elsewhere is refused; --project gives it its own project", () => {
      const sb = sandbox(as, "twin");
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const other = sb.mkdir("other", "twin");
      const r = sb.cm(["create", "x", "--from", `dir:${fixtures.busybox}`], { cwd: other });
      assert.equal(r.status, 125);
      assert.match(r.stderr, /belongs to .*--project/);
      assert.equal(sb.cm(["create", "--project", "twin2", "--from", `dir:${fixtures.busybox}`], { cwd: other }).status, 0);
      const run = sb.cm(["run", "--project", "twin2", "--", "sh", "-c", "touch /project/here"], { cwd: other });
      assert.equal(run.status, 0, run.stderr);
      assert.ok(existsSync(join(other, "here")));
      assert.ok(!existsSync(join(sb.project, "here")));
    });
  });
}

describe("missing tools", () => {
  test("a missing mmdebstrap or runc names the package to install", () => {
    const sb = sandbox("root");
    assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    // Hide the tools in a private mount namespace: /dev/null bound over them is not executable.
    const hidden = (args: string[]) => {
      // an empty cache of its own: with a cached base, a Debian create needs no mmdebstrap at all
      const envArgs = Object.entries({ ...sb.env, CM_CACHE_DIR: sb.mkdir("empty-cache") }).map(([k, v]) => `${k}=${v}`);
      // (debootstrap too: as root it is the fallback when mmdebstrap is missing)
      const script =
        'mount --bind /dev/null "$(command -v mmdebstrap)" && mount --bind /dev/null /usr/sbin/debootstrap && mount --bind /dev/null /usr/sbin/runc && exec "$@"';
      const r = spawnSync(
        "unshare",
        ["--mount", "--propagation", "private", "sh", "-c", script, "sh", "env", "-i", ...envArgs, fixtures.bin, ...args],
        {
          cwd: sb.project,
          encoding: "utf8",
        },
      );
      return { status: r.status, stderr: r.stderr };
    };
    const create = hidden(["create", "other", "--from", "debian:bookworm"]);
    assert.equal(create.status, 125, create.stderr);
    assert.ok(isOneLineError(create.stderr), create.stderr);
    assert.match(create.stderr, /mmdebstrap.*apt-get install mmdebstrap/);
    const run = hidden(["run", "--", "true"]);
    assert.equal(run.status, 125, run.stderr);
    assert.match(run.stderr, /runc not found.*apt-get install runc/);
    assert.deepEqual(readdirSync(join(sb.env.CM_HOME as string, "proj")), ["default"]);
  });
});
