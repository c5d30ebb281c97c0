/**
 * cm's own directories are trusted only when they are really the user's, the per-run config carries
 * only what cm wrote, delete removes only bundles, and every failure is one line (issue 12, 3 and 5).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { finished, fixtures, isOneLineError, sandbox, USERS, waitFor } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm's own directories (${as})`, () => {
    const sb = sandbox(as);
    /** a uid that is not the sandbox user's */
    const other = as === "root" ? { uid: 65534, gid: 65534 } : { uid: 0, gid: 0 };
    const data = sb.env.CM_HOME as string;
    const oneLine = (args: string[], env: Record<string, string>, re: RegExp) => {
      const r = sb.cm(args, { env });
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, re);
    };

    test("setup: a bundle", () => {
      const r = sb.cm(["create", "-q", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
    });

    test("a data directory that is a symlink, another user's, or writable by others is refused (one line, nothing run)", () => {
      const link = join(sb.dir, "planted-link");
      symlinkSync(data, link);
      oneLine(["run", "--", "true"], { CM_HOME: link }, /data directory .*planted-link is a symbolic link: cm does not trust/);
      const foreign = join(sb.dir, "foreign");
      mkdirSync(foreign, { mode: 0o755 });
      chownSync(foreign, other.uid, other.gid);
      oneLine(["list"], { CM_HOME: foreign }, /data directory .*foreign belongs to uid \d+, not to you/);
      const open = sb.mkdir("open");
      chmodSync(open, 0o777);
      oneLine(["list"], { CM_HOME: open }, /is writable by other users/);
      const cache = sb.mkdir("opencache");
      chmodSync(cache, 0o757);
      oneLine(["run", "--", "true"], { CM_CACHE_DIR: cache }, /cache directory .* is writable by other users/);
    });

    test("a bundle's config.json with planted hooks and a bind of / does not take effect", () => {
      const file = join(data, "proj", "default", "config.json");
      const saved = readFileSync(file, "utf8");
      const pwned = join(sb.dir, "hook-ran");
      const spec = JSON.parse(saved);
      spec.hooks = {
        createRuntime: [{ path: "/bin/sh", args: ["sh", "-c", `touch ${pwned}`] }],
        prestart: [{ path: "/bin/sh", args: ["sh", "-c", `touch ${pwned}`] }],
      };
      spec.mounts.push({ destination: "/host", type: "bind", source: "/", options: ["rbind", "rw"] });
      writeFileSync(file, JSON.stringify(spec)); // the same owner: rewritten in place
      try {
        const r = sb.cm(["run", "--", "sh", "-c", "test -e /host/etc/passwd && echo HOST || echo none"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "none\n");
        assert.equal(existsSync(pwned), false, "a planted hook ran");
      } finally {
        writeFileSync(file, saved);
      }
    });

    test("a config.json of another user, or a symlinked bundle, is refused", () => {
      const file = join(data, "proj", "default", "config.json");
      chownSync(file, other.uid, other.gid);
      try {
        oneLine(["run", "--", "true"], {}, /config\.json is not a file of yours: cm did not write it/);
      } finally {
        chownSync(file, sb.uid, sb.gid);
      }
      const fake = sb.mkdir("fakebundle");
      writeFileSync(join(fake, "config.json"), readFileSync(file));
      const link = join(data, "proj", "linked");
      symlinkSync(fake, link);
      lchownSync(link, sb.uid, sb.gid);
      try {
        const r = sb.cm(["run", "linked", "--", "true"]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /linked is a symbolic link: cm did not make it/);
      } finally {
        sb.exec("rm", [link]);
      }
    });

    test("a damaged config.json says so, not 'belongs to , not to this directory'", () => {
      const file = join(data, "proj", "default", "config.json");
      const saved = readFileSync(file, "utf8");
      const spec = JSON.parse(saved);
      delete spec.annotations["dev.cm.project.path"];
      writeFileSync(file, JSON.stringify(spec));
      try {
        oneLine(["run", "--", "true"], {}, /config\.json is damaged: it does not record its project directory/);
      } finally {
        writeFileSync(file, saved);
      }
    });

    test("cm delete removes only bundles: never through a symlink; notes, backups and links are kept and reported", () => {
      const victim = sb.mkdir("victim");
      writeFileSync(join(victim, "precious"), "x");
      mkdirSync(join(victim, "sub"));
      const pdir = join(data, "proj");
      writeFileSync(join(pdir, "notes.txt"), "mine");
      mkdirSync(join(pdir, "backup"));
      writeFileSync(join(pdir, "backup", "f"), "y");
      symlinkSync(victim, join(pdir, "link"));
      for (const p of ["notes.txt", "backup", "backup/f", "link"]) lchownSync(join(pdir, p), sb.uid, sb.gid);
      const r = sb.cm(["delete", "proj"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /cm: deleted default\n/);
      for (const p of ["backup", "link", "notes.txt"]) assert.match(r.stderr, new RegExp(`cm: kept ${join(pdir, p)}: not a bundle`));
      assert.ok(existsSync(join(victim, "precious")) && existsSync(join(victim, "sub")));
      assert.ok(existsSync(join(pdir, "notes.txt")) && existsSync(join(pdir, "backup", "f")));
      assert.equal(existsSync(join(pdir, "default")), false);
      // a project directory in the data directory that is a symlink is not followed
      sb.exec("rm", ["-r", pdir]);
      const r2 = sb.cm(["create", "-q", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r2.status, 0, r2.stderr);
      const moved = join(sb.dir, "moved");
      sb.exec("mv", [pdir, moved]);
      symlinkSync(victim, pdir);
      lchownSync(pdir, sb.uid, sb.gid);
      try {
        oneLine(["delete", "proj"], {}, /proj is a symbolic link: cm did not make it/);
        assert.ok(existsSync(join(victim, "precious")) && existsSync(join(victim, "sub")));
      } finally {
        sb.exec("rm", [pdir]);
        sb.exec("mv", [moved, pdir]);
      }
    });

    test("failures are one line: output to /dev/full, CM_HOME a file, empty or relative, HOME relative", () => {
      for (const args of [["list"], ["ps", "--json"], ["list", "--json"]]) {
        const [file, argv] = ["sh", ["-c", `exec "$@" > /dev/full`, "sh", fixtures.bin, ...args]] as const;
        const r = sb.exec(file, [...argv]);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /cannot write to standard output: no space left/);
      }
      const aFile = join(sb.dir, "a-file");
      writeFileSync(aFile, "");
      oneLine(["list"], { CM_HOME: aFile }, /data directory .*a-file is not a directory \(set CM_HOME/);
      oneLine(["list"], { CM_HOME: join(aFile, "sub") }, /a part of its path is a file/);
      oneLine(["list"], { CM_HOME: "" }, /CM_HOME="" is empty/);
      oneLine(["list"], { CM_STATE_DIR: "rel/state" }, /CM_STATE_DIR="rel\/state" is not an absolute path/);
      oneLine(["list"], { HOME: "rel" }, /HOME\) is not an absolute path/);
    });

    test("a full state directory: one line naming the path and what to do, no run directory left", () => {
      assert.equal(sb.cm(["create", "-q", "--force", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const mnt = sb.mkdir("fullstate");
      execFileSync("mount", ["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", mnt]);
      try {
        chownSync(mnt, sb.uid, sb.gid);
        // fill it: the per-run config.json (~16 KB) cannot be written
        spawnSync("dd", ["if=/dev/zero", `of=${join(mnt, "fill")}`, "bs=4k", "count=64"], { stdio: "ignore" });
        const r = sb.cm(["run", "--", "true"], { env: { CM_STATE_DIR: mnt } });
        assert.equal(r.status, 125, r.stderr);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, new RegExp(`cm: ${mnt}/runs/[0-9a-f]+: no space left on the device .*free space on that filesystem`));
        assert.deepEqual(readdirSync(join(mnt, "runs")), []);
      } finally {
        execFileSync("umount", [mnt]);
      }
    });

    /** Round `round` of five `cm run ARGS` started together and a `cm delete` after 20 x round ms: their results. */
    const raceDelete = async (round: number, args: string[]) => {
      const made = sb.cm(["create", "-q", "--force", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(made.status, 0, made.stderr);
      const runs = Array.from({ length: 5 }, () => {
        const c = sb.spawn(["run", ...args]);
        c.stdin?.end();
        return finished(c);
      });
      await new Promise((r) => setTimeout(r, 20 * round));
      const del = sb.cm(["delete", "--time", "1"]);
      assert.equal(del.status, 0, del.stderr);
      return Promise.all(runs);
    };
    const deletedLine = /bundle default was deleted while this run was starting|no bundle "default"/;

    test("runs racing cm delete: each ends 0, stopped (143) or with cm's one line (never 127), and nothing is left in the bundle's place", async () => {
      for (let round = 0; round < 4; round++) {
        for (const r of await raceDelete(round, ["--", "true"])) {
          if (r.status === 0) continue;
          // running (or waited for until it ran) when cm delete stopped it: SIGTERM, nothing said
          if (r.status === 143) {
            assert.equal(r.stderr, "");
            continue;
          }
          assert.equal(r.status, 125, r.stderr);
          // (above it, the init may have said that the command was not there: the hollow tree)
          const cmLines = r.stderr.split("\n").filter((l) => l.startsWith("cm: "));
          assert.equal(cmLines.length, 1, r.stderr);
          assert.match(cmLines[0] as string, deletedLine);
        }
        // what the runtime may have re-created at the old path is gone: the next create works
        assert.equal(existsSync(join(data, "proj", "default")), false);
      }
    });

    test("detached runs racing cm delete: each prints its ID or cm's one line (never 127), and nothing is left", async () => {
      for (let round = 0; round < 4; round++) {
        for (const r of await raceDelete(round, ["-d", "--", "true"])) {
          if (r.status === 0) {
            assert.match(r.stdout, /^[0-9a-f]{12,}\n$/);
            continue;
          }
          assert.equal(r.status, 125, r.stderr);
          assert.ok(isOneLineError(r.stderr), r.stderr);
          assert.match(r.stderr, deletedLine);
        }
        // no tree the runtime re-created stays at the bundle's path (a monitor may still be ending)
        await waitFor("nothing at the bundle's path", () => !existsSync(join(data, "proj", "default")));
      }
    });

    test("cm list with a symlink and a file planted in the data directory: they are named, not followed", () => {
      assert.equal(sb.cm(["create", "-q", "--force", "--from", `dir:${fixtures.busybox}`]).status, 0);
      const link = join(data, "planted");
      symlinkSync("/etc", link);
      lchownSync(link, sb.uid, sb.gid);
      writeFileSync(join(data, "stray.txt"), "x");
      chownSync(join(data, "stray.txt"), sb.uid, sb.gid);
      try {
        const r = sb.cm(["list"]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /planted is a symbolic link: cm did not make it/);
        assert.match(r.stderr, /stray\.txt is not a directory: cm did not make it/);
        assert.doesNotMatch(r.stdout, /passwd|hostname/);
      } finally {
        sb.exec("rm", ["-f", link, join(data, "stray.txt")]);
      }
    });
  });
}
