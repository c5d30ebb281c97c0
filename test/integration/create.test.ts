/**
 * cm create --from SOURCE: every source makes a bundle that runs, as root and rootless; bad sources
 * are one-line errors that create nothing; progress on a terminal and quiet otherwise.
 * (Debian bootstrapping, the cache and apt inside are in cache.test.ts.)
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fixtures, isOneLineError, type Sandbox, sandbox, USERS } from "../helpers/cm.ts";
import { tar } from "../helpers/oci.ts";

const ESC = String.fromCharCode(27);

/** Bundles of the sandbox's projects (dot-names are work in progress and must not remain either). */
function bundles(sb: Sandbox, project = "proj"): string[] {
  const dir = join(sb.home, "data", project);
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.endsWith(".lock")) : [];
}

/** The busybox fixture packed with `tar` and a compressor, owned by the sandbox user. */
function packBusybox(sb: Sandbox, name: string, flag: string[]): string {
  const file = join(sb.dir, name);
  execFileSync("tar", ["-c", ...flag, "-f", file, "-C", fixtures.busybox, "."]);
  chownSync(file, sb.uid, sb.gid);
  return file;
}

/** The podman as the sandbox user: root's storage, or the test user's own (rootless podman). */
function podman(sb: Sandbox, args: string[]) {
  return sb.exec("podman", args, { cwd: sb.dir });
}

function exportContainers(sb: Sandbox): string[] {
  const r = podman(sb, ["ps", "-a", "--format", "{{.Names}}"]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.split("\n").filter((n) => n.startsWith("cm-export-"));
}

for (const as of USERS) {
  describe(`cm create sources (${as})`, () => {
    const sb = sandbox(as);

    test("tar:PATH of a Debian minbase tarball: runs; APT's sandbox user is turned off only for a single-id bundle", () => {
      const r = sb.cm(["create", "deb", "--from", `tar:${fixtures.debianTar}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      const v = sb.cm(["run", "deb", "--", "cat", "/etc/debian_version"]);
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, /^12\./);
      // the test user has a subordinate range: range mode, where _apt exists
      assert.notEqual(sb.cm(["run", "deb", "--", "cat", "/etc/apt/apt.conf.d/99cm-sandbox"]).status, 0);
      if (as === "rootless") {
        assert.equal(sb.cm(["create", "deb1", "--userns", "single", "--from", `tar:${fixtures.debianTar}`]).status, 0);
        const apt = sb.cm(["run", "deb1", "--", "cat", "/etc/apt/apt.conf.d/99cm-sandbox"]);
        assert.match(apt.stdout, /APT::Sandbox::User "root";/);
      }
    });

    for (const [ext, flag] of [
      [".tar", []],
      [".tar.gz", ["-z"]],
      [".tgz", ["-z"]],
      [".tar.xz", ["-J"]],
      [".tar.zst", ["--zstd"]],
    ] as const) {
      test(`tar:PATH${ext}`, () => {
        const file = packBusybox(sb, `bb${ext}`, [...flag]);
        const name = `t${ext.replaceAll(".", "-")}`;
        const r = sb.cm(["create", name, "--from", `tar:${file}`]);
        assert.equal(r.status, 0, r.stderr);
        const run = sb.cm(["run", name, "--", "sh", "-c", "echo ok; id -u"]);
        assert.equal(run.status, 0, run.stderr);
        assert.equal(run.stdout, "ok\n0\n");
      });
    }

    test("dir:PATH", () => {
      const r = sb.cm(["create", "fromdir", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(sb.cm(["run", "fromdir", "--", "true"]).status, 0);
    });

    test("bundle:BUNDLE and bundle:PROJECT/BUNDLE copy another bundle's root filesystem", () => {
      assert.equal(sb.cm(["run", "fromdir", "--", "sh", "-c", "echo marked > /marker"]).status, 0);
      const same = sb.cm(["create", "clone", "--from", "bundle:fromdir"]);
      assert.equal(same.status, 0, same.stderr);
      assert.equal(sb.cm(["run", "clone", "--", "cat", "/marker"]).stdout, "marked\n");
      const other = sb.mkdir("work", "other");
      const cross = sb.cm(["create", "--from", "bundle:proj/fromdir"], { cwd: other });
      assert.equal(cross.status, 0, cross.stderr);
      assert.equal(sb.cm(["run", "--", "cat", "/marker"], { cwd: other }).stdout, "marked\n");
      const missing = sb.cm(["create", "x", "--from", "bundle:nope"]);
      assert.equal(missing.status, 125);
      assert.ok(isOneLineError(missing.stderr), missing.stderr);
      assert.match(missing.stderr, /no bundle "nope".*fromdir/);
    });

    describe("podman:IMAGE (an image imported from a tarball; cm never pulls)", () => {
      const image = `localhost/cm-test-${randomBytes(4).toString("hex")}`;
      after(() => podman(sb, ["rmi", "-f", image]));

      test("creates a container, exports, extracts and removes it", () => {
        const tar = packBusybox(sb, "img.tar", []);
        const imported = podman(sb, ["import", tar, image]);
        assert.equal(imported.status, 0, imported.stderr);
        const r = sb.cm(["create", "img", "--from", `podman:${image}`]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`from podman:${image}`));
        const run = sb.cm(["run", "img", "--", "sh", "-c", "ls /bin/busybox && id -u"]);
        assert.equal(run.status, 0, run.stderr);
        assert.equal(run.stdout, "/bin/busybox\n0\n");
        assert.deepEqual(exportContainers(sb), []);
      });

      test("an absent image is a one-line error; no container is left", () => {
        const r = sb.cm(["create", "none", "--from", `podman:${image}-absent`]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /image not known.*never pulls/);
        assert.deepEqual(exportContainers(sb), []);
        assert.ok(!bundles(sb).some((b) => b.includes("none")));
      });

      if (as === "root") {
        test("the container is removed also when the export fails (disk full mid-extraction)", () => {
          const small = sb.mkdir("small");
          assert.equal(spawnSync("mount", ["-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", small]).status, 0);
          try {
            const r = sb.cm(["create", "full", "--from", `podman:${image}`], { env: { CM_HOME: small } });
            assert.equal(r.status, 125);
            assert.ok(isOneLineError(r.stderr), r.stderr);
            assert.match(r.stderr, /ENOSPC|no space/i);
            assert.deepEqual(exportContainers(sb), []);
            assert.deepEqual(
              readdirSync(join(small, "proj")).filter((n) => !n.endsWith(".lock")),
              [],
              "nothing half-made is left in the data directory",
            );
          } finally {
            spawnSync("umount", [small]);
          }
        });
      }
    });

    test("docker:IMAGE without a Docker engine: a one-line error", () => {
      const r = sb.cm(["create", "dock", "--from", "docker:debian:bookworm"]);
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /docker could not create a container from debian:bookworm/);
    });

    test("bad sources: one-line errors, exit 125, nothing created", () => {
      const before = bundles(sb);
      for (const [from, message, extra] of [
        ["ftp:x", /unknown rootfs source "ftp:x"/, []],
        ["tar:/no/such.tar", /\/no\/such\.tar is not a readable file/, []],
        ["dir:/no/such/dir", /\/no\/such\/dir is not a readable directory/, []],
        ["tar:", /needs a path/, []],
        ["podman:-x", /invalid image name/, []],
        [`tar:${fixtures.debianTar}`, /--packages works only with debian sources/, ["--packages", "hello"]],
        ["debian:No_Such", /invalid Debian suite/, []],
      ] as const) {
        const r = sb.cm(["create", "bad", "--from", from, ...extra]);
        assert.equal(r.status, 125, `${from}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, message);
      }
      const notTar = join(sb.dir, "not-a.tar");
      writeFileSync(notTar, "just text\n".repeat(100));
      chownSync(notTar, sb.uid, sb.gid);
      const r = sb.cm(["create", "bad", "--from", `tar:${notTar}`]);
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.deepEqual(bundles(sb), before);
    });

    test("a hostile tarball is refused: one-line error, nothing written outside, no bundle", () => {
      const outside = join(sb.dir, "escaped");
      const file = join(sb.dir, "hostile.tar");
      writeFileSync(
        file,
        tar([
          { path: "bin/", type: "dir", mode: 0o755 },
          { path: "link", type: "symlink", linkname: sb.dir },
          { path: "link/escaped-through-link", content: "x" },
          { path: "../../escaped", content: "x" },
        ]),
      );
      chownSync(file, sb.uid, sb.gid);
      const before = bundles(sb);
      const r = sb.cm(["create", "hostile", "--from", `tar:${file}`]);
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /refusing tarball .*"\.\.\/\.\.\/escaped"/);
      assert.equal(existsSync(outside), false);
      assert.equal(existsSync(join(sb.dir, "escaped-through-link")), false);
      assert.deepEqual(bundles(sb), before);
    });

    test("progress: on a terminal, phase, elapsed time, bytes and entries; --quiet only the final line", () => {
      const envArgs = Object.entries(sb.env).map(([k, v]) => `${k}=${v}`);
      const quote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
      const inTerminal = (args: string[]) => {
        const argv = ["env", "-i", ...envArgs, "TERM=xterm", fixtures.bin, ...args].map(quote).join(" ");
        const cmd = as === "root" ? argv : `setpriv --reuid=${fixtures.user} --regid=${fixtures.user} --init-groups -- ${argv}`;
        const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { cwd: sb.project, encoding: "utf8", timeout: 120_000 });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        return r.stdout;
      };
      const live = inTerminal(["create", "tty", "--from", `tar:${fixtures.debianTar}`]);
      assert.match(live, /extracting .*debian-bookworm-minbase\.tar/);
      assert.match(live, /\d+(\.\d)?[KMG]?i?B, \d+ entries/);
      assert.match(live, /\(\d+\.\ds\)/);
      assert.match(live, /cm: created bundle tty of project proj .* in \d+\.\ds/);
      const quiet = inTerminal(["create", "ttyq", "--quiet", "--from", `tar:${fixtures.debianTar}`]);
      assert.equal(quiet.trim().split("\n").length, 1, quiet);
      assert.match(quiet, /^cm: created bundle ttyq /);
      assert.ok(!quiet.includes(`${ESC}[`), quiet);
      // Not a terminal (a pipe): the final line only, as every other test here shows too.
      const piped = sb.cm(["create", "piped", "--from", `tar:${fixtures.debianTar}`]);
      assert.equal(piped.status, 0, piped.stderr);
      assert.equal(piped.stderr.trim().split("\n").length, 1);
      assert.ok(!piped.stderr.includes(`${ESC}[`), piped.stderr);
    });
  });
}
