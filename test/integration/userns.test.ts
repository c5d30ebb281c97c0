/**
 * Rootless range mode (--userns range, the default where the user has /etc/subuid and /etc/subgid
 * ranges): real apt and dpkg on the Debian minbase fixture, installing packages built here with
 * dpkg-deb and served from a local repository (no network); /project ownership; kill -9 during
 * create and delete; a user without a range keeps the single-id mode and is told once.
 * As root (no user namespace) the same packages install: the behaviour users compare against.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { indexAptRepository } from "../helpers/apt.ts";
import {
  assertNothingLeft,
  finished,
  fixtures,
  isOneLineError,
  type Sandbox,
  sandbox,
  USERS,
  waitFor,
  writeProjectFile,
} from "../helpers/cm.ts";

/** Host ids of the test user's ranges (the global setup gives it one of each). */
function firstRange(file: string, user: string): { start: number; count: number } {
  const line = readFileSync(file, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${user}:`));
  assert.ok(line, `${file} has no range for ${user}`);
  const [, start, count] = line.split(":");
  return { start: Number(start), count: Number(count) };
}

/**
 * A local apt repository (a directory with .debs and a Packages index made by dpkg-scanpackages):
 *   - cmtest-shadow: ships /usr/bin/cmtest-shadowtool as root:shadow 2755 in its data archive;
 *   - cmtest-cron: like cron, its postinst adds a system group and user, chowns its spool
 *     directory to them and makes its tool setgid to the group.
 */
function buildRepo(dir: string): string {
  const repo = join(dir, "repo");
  mkdirSync(repo, { recursive: true, mode: 0o755 });
  const pkg = (name: string, files: (root: string) => void, postinst?: string) => {
    const root = join(dir, `build-${name}`);
    mkdirSync(join(root, "DEBIAN"), { recursive: true, mode: 0o755 });
    writeFileSync(
      join(root, "DEBIAN/control"),
      `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: cm tests <cm@localhost>\nDescription: cm test package\n`,
    );
    if (postinst) {
      writeFileSync(join(root, "DEBIAN/postinst"), postinst);
      chmodSync(join(root, "DEBIAN/postinst"), 0o755);
    }
    files(root);
    execFileSync("dpkg-deb", ["--build", root, join(repo, `${name}_1.0_all.deb`)], { stdio: "ignore" });
  };
  pkg("cmtest-shadow", (root) => {
    mkdirSync(join(root, "usr/bin"), { recursive: true, mode: 0o755 });
    const tool = join(root, "usr/bin/cmtest-shadowtool");
    writeFileSync(tool, "#!/bin/sh\necho shadowtool\n");
    chownSync(tool, 0, 42); // shadow is gid 42 in Debian
    chmodSync(tool, 0o2755);
  });
  pkg(
    "cmtest-cron",
    (root) => {
      mkdirSync(join(root, "usr/bin"), { recursive: true, mode: 0o755 });
      mkdirSync(join(root, "var/spool/cmtest"), { recursive: true, mode: 0o755 });
      writeFileSync(join(root, "usr/bin/cmtest-crontab"), "#!/bin/sh\necho crontab\n");
      chmodSync(join(root, "usr/bin/cmtest-crontab"), 0o755);
    },
    [
      "#!/bin/sh",
      "set -e",
      'if [ "$1" = configure ]; then',
      "  getent group cmtestcron >/dev/null || groupadd --system cmtestcron",
      "  getent passwd cmtestsvc >/dev/null || useradd --system --gid cmtestcron --no-create-home cmtestsvc",
      "  chown cmtestsvc:cmtestcron /var/spool/cmtest",
      "  chmod 1730 /var/spool/cmtest",
      "  chgrp cmtestcron /usr/bin/cmtest-crontab",
      "  chmod 2755 /usr/bin/cmtest-crontab",
      "fi",
      "",
    ].join("\n"),
  );
  indexAptRepository(repo, dir);
  return repo;
}

/** apt-get restricted to the local repository (bound at /srv/repo): no network is touched. */
const APT_LOCAL = [
  "echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/cmtest.list",
  "apt-get -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=/etc/apt/sources.list.d -q update",
  "apt-get -o Dir::Etc::sourcelist=/dev/null -o Dir::Etc::sourceparts=/etc/apt/sources.list.d -q install -y cmtest-cron",
].join(" && ");

function hostOwner(path: string): { uid: number; gid: number } {
  const st = statSync(path);
  return { uid: st.uid, gid: st.gid };
}

for (const as of USERS) {
  describe(`rootless id range: apt, dpkg and /project (${as})`, () => {
    const sb = sandbox(as);
    let repo = "";
    before(() => {
      repo = buildRepo(sb.mkdir("apt"));
      const r = sb.cm(["create", "--from", `tar:${fixtures.debianTar}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, `one line, no warning: ${r.stderr}`);
    });
    after(() => {
      assert.equal(sb.cm(["delete"]).status, 0);
      assertNothingLeft(sb);
    });

    test("the bundle records its mode and maps the range (rootless); no APT sandbox override", () => {
      const config = JSON.parse(readFileSync(join(sb.env.CM_HOME as string, "proj/default/config.json"), "utf8"));
      if (as === "rootless") {
        const subuid = firstRange("/etc/subuid", fixtures.user);
        assert.equal(config.annotations["dev.cm.userns"], "range");
        assert.deepEqual(config.linux.uidMappings, [
          { containerID: 0, hostID: sb.uid, size: 1 },
          { containerID: 1, hostID: subuid.start, size: subuid.count },
        ]);
        // shadow (gid 42) is stored shifted into the range on the host
        const shadow = hostOwner(join(sb.env.CM_HOME as string, "proj/default/rootfs/etc/shadow"));
        assert.equal(shadow.gid, firstRange("/etc/subgid", fixtures.user).start + 41);
        assert.equal(shadow.uid, sb.uid);
      } else {
        assert.equal(config.annotations["dev.cm.userns"], undefined);
        assert.equal(config.linux.uidMappings, undefined);
      }
      const r = sb.cm(["run", "--", "sh", "-c", "cat /proc/self/uid_map; ls /etc/apt/apt.conf.d; stat -c '%U:%G' /etc/shadow"]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /99cm-sandbox/);
      assert.match(r.stdout, /root:shadow/);
      if (as === "rootless") assert.match(r.stdout, /^\s*1\s+\d+\s+65536$/m);
    });

    test("dpkg -i of a package with a root:shadow 2755 file keeps its group and mode", () => {
      const r = sb.cm([
        "run",
        "-v",
        `${repo}:/srv/repo:ro`,
        "--",
        "sh",
        "-c",
        "dpkg -i /srv/repo/cmtest-shadow_1.0_all.deb && stat -c '%U:%G %a' /usr/bin/cmtest-shadowtool",
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^root:shadow 2755$/m);
    });

    test("apt-get install -y of a package whose postinst adds a user and group, chowns and makes a setgid tool", () => {
      const r = sb.cm(["run", "-v", `${repo}:/srv/repo:ro`, "--", "sh", "-c", APT_LOCAL]);
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      // APT kept its sandbox user: no "unsandboxed as root" fallback, no failed chown of its log.
      assert.doesNotMatch(`${r.stdout}${r.stderr}`, /chown to root:adm .* failed/);
      const s = sb.cm(["run", "--", "stat", "-c", "%n %U:%G %a", "/usr/bin/cmtest-crontab", "/var/spool/cmtest", "/var/log/apt/term.log"]);
      assert.equal(s.status, 0, s.stderr);
      assert.match(s.stdout, /^\/usr\/bin\/cmtest-crontab root:cmtestcron 2755$/m);
      assert.match(s.stdout, /^\/var\/spool\/cmtest cmtestsvc:cmtestcron 1730$/m);
      assert.match(s.stdout, /^\/var\/log\/apt\/term.log root:adm /m);
    });

    test("/project: the user's files are 0 inside, container root's are the user's; a service user's come back with chown", () => {
      writeFileSync(join(sb.project, "mine"), "x");
      chownSync(join(sb.project, "mine"), sb.uid, sb.gid);
      const r = sb.cm([
        "run",
        "--",
        "sh",
        "-c",
        "ls -ln /project/mine; touch /project/fromroot; mkdir /project/svc && chown 42:42 /project/svc",
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^-\S+\s+1 0 0 /m);
      assert.deepEqual(hostOwner(join(sb.project, "fromroot")), { uid: sb.uid, gid: sb.gid });
      const svc = hostOwner(join(sb.project, "svc"));
      if (as === "rootless") {
        // a non-root container user's file is a subordinate id on the host (README: how to get it back)
        assert.equal(svc.uid, firstRange("/etc/subuid", fixtures.user).start + 41);
        assert.equal(sb.cm(["run", "--", "chown", "-R", "0:0", "/project/svc"]).status, 0);
        assert.deepEqual(hostOwner(join(sb.project, "svc")), { uid: sb.uid, gid: sb.gid });
      } else {
        assert.deepEqual(svc, { uid: 42, gid: 42 });
      }
    });

    test("a /project given away by container root is said after the run, with how to get it back", async () => {
      const plain = sb.cm(["run", "--", "true"]);
      assert.equal(plain.status, 0, plain.stderr);
      assert.doesNotMatch(plain.stderr, /now belongs to uid/);
      if (as !== "rootless") return;
      const r = sb.cm(["run", "--", "sh", "-c", "chown 1000:1000 /project; exit 3"]);
      assert.equal(r.status, 3, r.stderr);
      const subuid = firstRange("/etc/subuid", fixtures.user).start + 999;
      assert.equal(hostOwner(sb.project).uid, subuid);
      assert.match(
        r.stderr,
        new RegExp(
          `^cm: /project \\(.*\\) now belongs to uid ${subuid} on the host, not to you; cm run -- chown 0:0 /project gives it back$`,
          "m",
        ),
      );
      const back = sb.cm(["run", "--", "chown", "0:0", "/project"]);
      assert.equal(back.status, 0, back.stderr);
      assert.doesNotMatch(back.stderr, /now belongs to uid/);
      assert.deepEqual(hostOwner(sb.project), { uid: sb.uid, gid: sb.gid });
      // detached: the monitor writes the line to the container's log
      const id = sb.cm(["run", "-d", "--", "chown", "1000:1000", "/project"]).stdout.trim();
      assert.ok(id);
      await waitFor("the detached run to end", () => /now belongs to uid/.test(sb.cm(["logs", id]).stdout));
      assert.match(sb.cm(["logs", id]).stdout, new RegExp(`^cm: /project \\(.*\\) now belongs to uid ${subuid} on the host`, "m"));
      assert.equal(sb.cm(["run", "--", "chown", "0:0", "/project"]).status, 0);
      assert.deepEqual(hostOwner(sb.project), { uid: sb.uid, gid: sb.gid });
    });

    if (as === "rootless") {
      test("runsc refuses a range bundle rootless with one line", () => {
        if (!spawnSync("sh", ["-c", "command -v runsc"]).stdout.length)
          assert.fail("runsc is not installed (scripts/setup.sh installs it)");
        const r = sb.cm(["run", "--runtime", "runsc", "--", "true"]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /runsc cannot run this bundle rootless.*--userns single/);
      });

      test("cm doctor: the ranges, how newuidmap/newgidmap are installed, and that new bundles get range mode", () => {
        const d = sb.cm(["doctor"]);
        const line = d.stdout.split("\n").find((l) => /\bsubids\b/.test(l)) ?? "";
        assert.match(line, /^OK/, `${d.stdout}\n${d.stderr}`);
        assert.match(line, /newuidmap setuid root, newgidmap setuid root/);
        assert.match(line, new RegExp(`subuid ${firstRange("/etc/subuid", fixtures.user).start}\\+65536`));
        assert.match(line, /--userns range/);
      });

      test("dir: trees are read as host ids (yours -> 0, subordinate -> shifted back, others kept); tar owners beyond the range go to root", () => {
        const subuid = firstRange("/etc/subuid", fixtures.user);
        const subgid = firstRange("/etc/subgid", fixtures.user);
        const tree = sb.mkdir("tree");
        for (const d of ["bin", "etc", "data"]) mkdirSync(join(tree, d), { recursive: true });
        const bb = join(tree, "bin/busybox");
        writeFileSync(bb, readFileSync(join(fixtures.busybox, "bin/busybox")));
        chmodSync(bb, 0o755);
        for (const a of ["sh", "stat"]) spawnSync("ln", ["-s", "busybox", join(tree, "bin", a)]);
        const file = (name: string, uid: number, gid: number) => {
          writeFileSync(join(tree, "data", name), name);
          chownSync(join(tree, "data", name), uid, gid);
        };
        file("mine", sb.uid, sb.gid);
        file("shifted", subuid.start + 41, subgid.start + 41);
        file("rootmade", 42, 42);
        const r = sb.cm(["create", "tree", "--from", `dir:${tree}`]);
        assert.equal(r.status, 0, r.stderr);
        const s = sb.cm(["run", "tree", "--", "stat", "-c", "%n %u:%g", "/data/mine", "/data/shifted", "/data/rootmade"]);
        assert.equal(s.status, 0, s.stderr);
        assert.equal(s.stdout, "/data/mine 0:0\n/data/shifted 42:42\n/data/rootmade 42:42\n");
        // A tarball with an owner the range cannot hold: given to root, and said so on the final line.
        const tarball = join(sb.dir, "big-ids.tar");
        const t = spawnSync("tar", ["-C", tree, "--owner=200000", "--group=200000", "--numeric-owner", "-cf", tarball, "."]);
        assert.equal(t.status, 0, String(t.stderr));
        chownSync(tarball, sb.uid, sb.gid);
        const big = sb.cm(["create", "big", "--from", `tar:${tarball}`]);
        assert.equal(big.status, 0, big.stderr);
        assert.match(big.stderr, /file\(s\) owned by ids above your range of 65536 were given to root/);
        const b = sb.cm(["run", "big", "--", "stat", "-c", "%u:%g", "/data/mine"]);
        assert.equal(b.stdout, "0:0\n");
        assert.equal(sb.cm(["delete", "proj", "tree"]).status, 0);
        assert.equal(sb.cm(["delete", "proj", "big"]).status, 0);
      });

      test("--userns single: the former one-id mode (APT told to stay root), by flag and by cm.toml", () => {
        const r = sb.cm(["create", "one", "--userns", "single", "--from", `tar:${fixtures.debianTar}`]);
        assert.equal(r.status, 0, r.stderr);
        const out = sb.cm(["run", "one", "--", "sh", "-c", "cat /proc/self/uid_map; cat /etc/apt/apt.conf.d/99cm-sandbox"]);
        assert.equal(out.status, 0, out.stderr);
        assert.match(out.stdout, /APT::Sandbox::User "root";/);
        assert.equal(
          out.stdout
            .trim()
            .split("\n")
            .filter((l) => /^\s*\d+\s+\d+\s+\d+$/.test(l)).length,
          1,
        );
        assert.equal(sb.cm(["run", "--runtime", "runsc", "one", "--", "true"]).status, 0);
        // cm.toml's [create] userns, under the flag
        writeProjectFile(sb, '[create]\nuserns = "single"\n');
        try {
          assert.equal(sb.cm(["create", "toml", "--from", `dir:${fixtures.busybox}`]).status, 0);
          assert.equal(sb.cm(["create", "flag", "--userns", "range", "--from", `dir:${fixtures.busybox}`]).status, 0);
          const mode = (b: string) =>
            JSON.parse(readFileSync(join(sb.env.CM_HOME as string, "proj", b, "config.json"), "utf8")).annotations["dev.cm.userns"];
          assert.equal(mode("toml"), "single");
          assert.equal(mode("flag"), "range");
        } finally {
          rmSync(join(sb.project, "cm.toml"), { force: true });
        }
        assert.equal(sb.cm(["delete", "proj", "toml"]).status, 0);
        assert.equal(sb.cm(["delete", "proj", "flag"]).status, 0);
        const bad = sb.cm(["create", "two", "--userns", "keep-id"]);
        assert.equal(bad.status, 125);
        assert.ok(isOneLineError(bad.stderr), bad.stderr);
        assert.equal(sb.cm(["delete", "proj", "one"]).status, 0);
      });
    } else {
      test("--userns is refused as root (no user namespace there)", () => {
        const r = sb.cm(["create", "x", "--userns", "range", "--from", `tar:${fixtures.debianTar}`]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /--userns applies to rootless bundles/);
      });
    }
  });
}

describe("rootless id range: kill -9 during create and delete, then cm gc (rootless)", () => {
  const sb = sandbox("rootless", "killed");
  const data = () => join(sb.env.CM_HOME as string, "killed");
  const names = () => (existsSync(data()) ? readdirSync(data()) : []);

  test("a create killed while extracting: cm gc removes all of it, as the user; a new create works", async () => {
    const child = sb.spawn(["create", "--from", `tar:${fixtures.debianTar}`]);
    child.stdin?.end();
    const done = finished(child);
    // Killed once the extractor has written shifted files (a directory owned by a subordinate id).
    await waitFor("the extraction to be under way", () => {
      const work = names().find((n) => n.startsWith(".default.creating-"));
      return work !== undefined && existsSync(join(data(), work, "rootfs/usr/bin/chage"));
    });
    child.kill("SIGKILL");
    await done;
    assert.ok(
      names().some((n) => n.startsWith(".default.creating-")),
      "the killed create left its work directory",
    );
    const gc = sb.cm(["gc"]);
    assert.equal(gc.status, 0, gc.stderr);
    assertNothingLeft(sb);
    const again = sb.cm(["create", "--from", `tar:${fixtures.debianTar}`]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(sb.cm(["run", "--", "true"]).status, 0);
  });

  test("a delete killed half-way: cm gc removes the rest, as the user", async () => {
    const child = sb.spawn(["delete"]);
    child.stdin?.end();
    const done = finished(child);
    await waitFor("the delete to set the bundle aside", () => !names().includes("default"), 20_000);
    child.kill("SIGKILL");
    await done;
    const gc = sb.cm(["gc"]);
    assert.equal(gc.status, 0, gc.stderr);
    assertNothingLeft(sb);
    const again = sb.cm(["create", "--from", `tar:${fixtures.debianTar}`]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(sb.cm(["delete"]).status, 0);
    assertNothingLeft(sb);
  });
});

describe("a user without subordinate ids: the one-id mode, said once (rootless)", () => {
  const user = "cmtest-norange";
  let sb: Sandbox;
  before(() => {
    spawnSync("userdel", ["-r", user], { stdio: "ignore" });
    // -K: no subordinate ids (useradd would otherwise allocate a range from /etc/login.defs)
    execFileSync("useradd", ["--no-create-home", "--shell", "/bin/sh", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", user]);
    for (const f of ["/etc/subuid", "/etc/subgid"]) {
      assert.ok(
        !readFileSync(f, "utf8")
          .split("\n")
          .some((l) => l.startsWith(`${user}:`)),
        `${f} must have no range for ${user}`,
      );
    }
    sb = sandbox("rootless", "proj", { user });
  });
  after(() => {
    spawnSync("userdel", [user], { stdio: "ignore" });
  });

  test("create warns once (what is lost, how to get a range), makes a one-id bundle that runs, and deletes", () => {
    const r = sb.cm(["create", "--from", `tar:${fixtures.debianTar}`]);
    assert.equal(r.status, 0, r.stderr);
    const warnings = r.stderr.split("\n").filter((l) => l.startsWith("cm: warning:"));
    assert.equal(warnings.length, 1, r.stderr);
    assert.match(warnings[0] ?? "", /no \/etc\/subuid range for cmtest-norange/);
    assert.match(warnings[0] ?? "", /usermod --add-subuids .* cmtest-norange/);
    assert.match(warnings[0] ?? "", /apt-get install uidmap/);
    const config = JSON.parse(readFileSync(join(sb.env.CM_HOME as string, "proj/default/config.json"), "utf8"));
    assert.equal(config.annotations["dev.cm.userns"], "single");
    assert.deepEqual(config.linux.uidMappings, [{ containerID: 0, hostID: sb.uid, size: 1 }]);
    const run = sb.cm(["run", "--", "sh", "-c", "cat /etc/apt/apt.conf.d/99cm-sandbox; chown 42 /tmp 2>&1 || echo chown-failed"]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /APT::Sandbox::User "root";/);
    assert.match(run.stdout, /chown-failed/);
    const range = sb.cm(["create", "r", "--userns", "range", "--from", `tar:${fixtures.debianTar}`]);
    assert.equal(range.status, 125);
    assert.ok(isOneLineError(range.stderr), range.stderr);
    assert.match(range.stderr, /--userns range needs subordinate ids: no \/etc\/subuid range/);
    assert.equal(sb.cm(["delete"]).status, 0);
    assertNothingLeft(sb);
  });

  test("cm doctor says new bundles map only the user's own id, and how to get a range", () => {
    const d = sb.cm(["doctor"]);
    const line = d.stdout.split("\n").find((l) => /\bsubids\b/.test(l)) ?? "";
    assert.match(line, /^WARN/);
    assert.match(line, /subuid none, subgid none for cmtest-norange/);
    assert.match(line, /--userns single/);
    assert.match(line, /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 cmtest-norange/);
  });

  test("a bundle made before range mode (no annotation) still runs", () => {
    const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
    assert.equal(r.status, 0, r.stderr);
    const path = join(sb.env.CM_HOME as string, "proj/default/config.json");
    const config = JSON.parse(readFileSync(path, "utf8"));
    delete config.annotations["dev.cm.userns"];
    writeFileSync(path, JSON.stringify(config));
    const run = sb.cm(["run", "--", "id", "-u"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout.trim(), "0");
    assert.equal(sb.cm(["delete"]).status, 0);
  });
});
