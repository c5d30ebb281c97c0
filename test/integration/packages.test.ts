/**
 * --packages installs as `apt-get install` does: with Recommends, unless --no-install-recommends
 * (or cm.toml's install_recommends = false) asks for a slim bundle. A local apt repository made by
 * the test (dpkg-deb, dpkg-scanpackages) holds cm-test-a, which Recommends cm-test-b; cm reaches it
 * through --mirror (next to deb.debian.org for the base), with real mmdebstrap bootstraps.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { indexAptRepository } from "../helpers/apt.ts";
import { isOneLineError, sandbox, USERS, writeProjectFile } from "../helpers/cm.ts";

/** A flat apt repository with cm-test-a (Recommends: cm-test-b) and cm-test-b, readable by everyone. */
function localRepository(dir: string): string {
  for (const [name, extra] of [
    ["cm-test-a", "Recommends: cm-test-b\n"],
    ["cm-test-b", ""],
  ] as const) {
    const root = join(dir, "build", name);
    mkdirSync(join(root, "DEBIAN"), { recursive: true });
    mkdirSync(join(root, "usr/share", name), { recursive: true });
    writeFileSync(join(root, "usr/share", name, "marker"), `${name}\n`);
    writeFileSync(
      join(root, "DEBIAN/control"),
      `Package: ${name}\nVersion: 1.0\nArchitecture: all\nMaintainer: cm tests <cm@example.invalid>\n${extra}Description: cm test package ${name}\n`,
    );
    execFileSync("dpkg-deb", ["--root-owner-group", "--build", root, join(dir, `${name}_1.0_all.deb`)], { stdio: "ignore" });
  }
  indexAptRepository(dir);
  chmodSync(dir, 0o755);
  return `deb [trusted=yes] copy://${dir} ./`;
}

for (const as of USERS) {
  describe(`--packages with and without Recommends (${as})`, () => {
    const sb = sandbox(as);
    const repo = localRepository(sb.mkdir("repo"));
    const mirrors = ["--mirror", "http://deb.debian.org/debian", "--mirror", repo];
    const rootfs = (bundle: string) => join(sb.env.CM_HOME as string, "proj", bundle, "rootfs");
    const installed = (bundle: string, pkg: string) => existsSync(join(rootfs(bundle), "usr/share", pkg, "marker"));

    test("by default a package's Recommends are installed (as apt-get install); apt's settings are left as Debian's", () => {
      const r = sb.cm(["create", "full", "--packages", "cm-test-a", ...mirrors], { timeoutMs: 900_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(installed("full", "cm-test-a"), true);
      assert.equal(installed("full", "cm-test-b"), true, "the Recommends came along");
      // mmdebstrap's --aptopt file would override the user's apt settings later: it is removed
      assert.equal(existsSync(join(rootfs("full"), "etc/apt/apt.conf.d/99mmdebstrap")), false);
      const run = sb.cm(["run", "full", "--", "apt-config", "dump", "APT::Install-Recommends"]);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /APT::Install-Recommends "1";/);
      const list = sb.cm(["list", "--json"]);
      assert.match(list.stdout, /debian:bookworm \+cm-test-a from http:\/\/deb\.debian\.org\/debian/);
    });

    test("--no-install-recommends: a slim bundle, the package without its Recommends", () => {
      const r = sb.cm(["create", "slim", "--packages", "cm-test-a", "--no-install-recommends", ...mirrors], { timeoutMs: 900_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /\(no Recommends\)/);
      assert.equal(installed("slim", "cm-test-a"), true);
      assert.equal(installed("slim", "cm-test-b"), false, "no Recommends in a slim bundle");
    });

    test("cm.toml install_recommends = false is the slim default; the cached base is reused per choice", () => {
      writeProjectFile(sb, '[create]\npackages = ["cm-test-a"]\ninstall_recommends = false\n');
      execFileSync("chown", [`${sb.uid}:${sb.gid}`, join(sb.project, "cm.toml")]);
      try {
        const r = sb.cm(["create", "fromfile", ...mirrors], { timeoutMs: 900_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /from the cached base/, "the slim base made above");
        assert.equal(installed("fromfile", "cm-test-b"), false);
      } finally {
        writeProjectFile(sb, "");
      }
    });

    test("--no-install-recommends and --mirror with a source that is not Debian: one-line errors", () => {
      for (const flag of [["--no-install-recommends"], ["--mirror", "http://deb.debian.org/debian"]]) {
        const r = sb.cm(["create", "x", "--from", "dir:/nonexistent", ...flag]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, new RegExp(`${flag[0]} works only with debian sources`));
      }
    });

    test("a --mirror that is not a URI or a sources.list line is refused before anything is made", () => {
      for (const m of ["/etc/apt/sources.list", "-"]) {
        const r = sb.cm(["create", "x", "--mirror", m]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /invalid --mirror/);
      }
      assert.equal(existsSync(join(sb.env.CM_HOME as string, "proj", "x")), false);
    });

    if (as === "root") {
      test("debootstrap cannot install Recommends: refused, not done without them", () => {
        const r = sb.cm(["create", "deboot", "--packages", "cm-test-a"], {
          env: { CM_CACHE_DIR: sb.mkdir("cache-debootstrap"), CM_BOOTSTRAP: "debootstrap" },
        });
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /debootstrap cannot install the packages' Recommends/);
      });
    }
  });
}
