/**
 * The wrapper under hostile input and interruption, as root and rootless: names, project
 * directories, planted symlinks, concurrent commands, mounts inside bundles, odd modes, kill -9 at
 * several points. Each test here is named in SECURITY.md next to the guarantee it proves.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawnSync } from "node:child_process";
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { describe, test } from "node:test";
import { SAFE_NAME } from "../../src/core/names.ts";
import { cmAsync, finished, fixtures, isOneLineError, type Sandbox, sandbox, spawnUntilReady, USERS, waitFor } from "../helpers/cm.ts";

/** ESC, CSI (C1) and CR: what cm must never print raw of a name or a file (they rewrite the terminal). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what is looked for
const RAW_CONTROL = /[\u001b\u009b\r]/;

function dataEntries(sb: Sandbox): string[] {
  const data = sb.env.CM_HOME as string;
  return existsSync(data) ? readdirSync(data) : [];
}

function projectData(sb: Sandbox, key = "proj"): string {
  return join(sb.env.CM_HOME as string, key);
}

/** A marker put into every container command line of this sandbox, to find its processes. */
function marker(sb: Sandbox): string {
  return `cm-test-${basename(sb.dir)}`;
}

/** pids of this sandbox's container processes (their command line carries the marker). */
function processesInData(sb: Sandbox): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmdline = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmdline.includes(marker(sb)) && !cmdline.includes("/bin/cm")) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

function runsOf(sb: Sandbox): string[] {
  const runs = join(sb.env.CM_STATE_DIR as string, "runs");
  return existsSync(runs) ? readdirSync(runs) : [];
}

/**
 * Resolves when the process itself has ended. ("close" waits for its stdio, which a container or
 * a tool it started may hold open after cm was killed.)
 */
function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
}

/** Starts a cm run that prints "ready" when its container runs; resolves once it did. */
async function startRun(sb: Sandbox, script: string) {
  const { child, done } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", `: ${marker(sb)}; ${script}`]);
  return { child, done, exit: exited(child) };
}

/** lstat, or undefined where nothing is (a dangling symlink is something). */
function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}

function chownTree(path: string, uid: number, gid: number): void {
  execFileSync("chown", ["-hR", `${uid}:${gid}`, path]);
}

for (const as of USERS) {
  describe(`wrapper hardening (${as})`, () => {
    test("hostile bundle and project names: one-line errors, nothing created", () => {
      const sb = sandbox(as);
      const before = readdirSync(sb.dir).sort();
      const bad: string[][] = [];
      for (const n of ["..", ".", "../x", "a/b", "/etc", ".hidden", "-rf", "x".repeat(64), "a\nb", "é", " ", "a b", "a:b", "a;rm -rf ~"]) {
        bad.push(["create", n, "--from", `dir:${fixtures.busybox}`], ["run", n, "--", "true"], ["delete", "proj", n]);
      }
      for (const p of ["..", ".", "a/b", "../../etc", "-x", "", "x/../.."]) {
        bad.push(["create", "--project", p, "--from", `dir:${fixtures.busybox}`], ["delete", p]);
      }
      for (const args of bad) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${JSON.stringify(args)}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), `${JSON.stringify(args)}: ${r.stderr}`);
      }
      assert.deepEqual(readdirSync(sb.dir).sort(), before);
      assert.deepEqual(dataEntries(sb), []);
      // A project name with odd bytes is allowed, and stored under a safe key.
      const r = sb.cm(["create", "--project", "evil\n$(id) ;`x`", "--from", `dir:${fixtures.busybox}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
      for (const key of dataEntries(sb)) assert.match(key, SAFE_NAME);
    });

    test("a symlinked project directory binds its real path", () => {
      const sb = sandbox(as);
      const link = join(sb.dir, "link");
      symlinkSync(sb.project, link);
      let r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"], { cwd: link });
      assert.equal(r.status, 0, r.stderr);
      r = sb.cm(["list", "--json"], { cwd: link });
      assert.equal((JSON.parse(r.stdout) as { path: string }[])[0]?.path, realpathSync(sb.project));
      r = sb.cm(["run", "--", "sh", "-c", "echo via-link > /project/f"], { cwd: link });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(readFileSync(join(sb.project, "f"), "utf8"), "via-link\n");
      // Re-pointing the link elsewhere does not redirect the bundle's mount.
      const other = sb.mkdir("elsewhere", "proj");
      rmSync(link);
      symlinkSync(other, link);
      r = sb.cm(["run", "--", "true"], { cwd: link });
      assert.equal(r.status, 125);
      assert.match(r.stderr, /belongs to/);
    });

    test("/, $HOME itself and cm's own directories are refused as projects", () => {
      const sb = sandbox(as);
      const inside = sb.mkdir("home", "data-parent");
      const cases: { cwd: string; env?: Record<string, string>; message: RegExp }[] = [
        { cwd: "/", message: /refusing \/ as a project/ },
        { cwd: sb.home, message: /refusing your home directory/ },
        { cwd: inside, env: { CM_HOME: join(inside, "cm") }, message: /cm's own directory/ },
        { cwd: sb.project, env: { CM_HOME: join(sb.project, "nested-data") }, message: /cm's own directory/ },
      ];
      mkdirSync(join(inside, "cm"), { recursive: true });
      chownSync(join(inside, "cm"), sb.uid, sb.gid);
      for (const c of cases) {
        const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`], { cwd: c.cwd, env: c.env ?? {} });
        assert.equal(r.status, 125, `${c.cwd}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, c.message);
      }
      const inData = join(inside, "cm", "proj");
      mkdirSync(inData);
      chownSync(inData, sb.uid, sb.gid);
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`], { cwd: inData, env: { CM_HOME: join(inside, "cm") } });
      assert.equal(r.status, 125);
      assert.match(r.stderr, /cm's own directory/);
      assert.deepEqual(readdirSync(join(inside, "cm")), ["proj"]);
    });

    test("a project directory whose name is not valid UTF-8 is refused in one line, never taken for the directory its decoded name names", () => {
      const sb = sandbox(as);
      const parent = sb.mkdir("names");
      const bad = Buffer.concat([Buffer.from(`${parent}/bad`), Buffer.from([0xff]), Buffer.from("name")]);
      mkdirSync(bad);
      chownSync(bad, sb.uid, sb.gid);
      // what Node decodes the bad name to: another directory (in a shared /tmp, another user's)
      mkdirSync(join(parent, "bad\uFFFDname"));
      const inBad = (...args: string[]) =>
        sb.exec("sh", ["-c", 'cd "$(printf "%s/bad\\377name" "$1")" && shift && exec "$@"', "sh", parent, fixtures.bin, ...args]);
      for (const args of [["create", "--from", `dir:${fixtures.busybox}`], ["run", "--", "true"], ["diff"], ["trust"]]) {
        const r = inBad(...args);
        assert.equal(r.status, 125, `${args[0]}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /the current directory's path is not valid UTF-8 .*bad\uFFFDname.*rename/);
      }
      assert.deepEqual(dataEntries(sb), []);
      // a name with a real U+FFFD is valid UTF-8, and is a project like any other
      const real = join(parent, "bad\uFFFDname");
      chownSync(real, sb.uid, sb.gid);
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"], { cwd: real });
      assert.equal(r.status, 0, r.stderr);
    });

    test("a project directory named with terminal escape sequences is shown escaped: cm ps, cm trust, error lines", () => {
      const sb = sandbox(as);
      const dir = sb.mkdir("work", "esc\u001b[31mred\u009b2K");
      let r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"], { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      r = sb.cm(["run", "-d", "--", "sh", "-c", "sleep 30", "\u009b2K"], { cwd: dir });
      assert.equal(r.status, 0, r.stderr);
      const id = r.stdout.trim();
      writeFileSync(join(dir, "cm.toml"), "[run]\n", { mode: 0o644 });
      const outputs = [
        sb.cm(["ps", "-a"], { cwd: dir }).stdout,
        sb.cm(["trust"], { cwd: dir }).stdout,
        sb.cm(["trust", "--revoke"], { cwd: dir }).stdout,
        sb.cm(["run", "--", "true"], { cwd: dir }).stderr, // not trusted: the error line names the file
      ];
      assert.match(outputs[0] as string, /"\\u009b2K"/, "the command's argument too");
      assert.equal(sb.cm(["stop", id], { cwd: dir }).status, 0);
      for (const out of outputs) {
        assert.match(out, /esc(\\u001b|\\x1b)\[31mred\\u009b2K/, out);
        assert.doesNotMatch(out, RAW_CONTROL, out);
      }
    });

    test("an argument or a path variable that is not valid UTF-8 is refused in one line, never taken for the path its decoded form names", () => {
      const sb = sandbox(as);
      const shared = sb.mkdir("shared");
      // the decoded forms exist: another user's directory, env file and rootfs (in a shared /tmp)
      const decoy = join(shared, "data\uFFFD");
      mkdirSync(decoy);
      writeFileSync(join(decoy, "who"), "ATTACKER\n");
      writeFileSync(join(shared, "app\uFFFD.env"), "FOO=from-attacker\n");
      execFileSync("cp", ["-a", fixtures.busybox, join(shared, "rootfs\uFFFD")]);
      // the user's own, whose names hold the byte 0xff
      const own = (name: string) => Buffer.concat([Buffer.from(`${shared}/${name}`), Buffer.from([0xff])]);
      mkdirSync(own("data"));
      chownSync(own("data"), sb.uid, sb.gid);
      let r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
      // each argument is given through sh (printf makes the byte): Node cannot pass such bytes in argv
      const withByte = (script: string) => sb.exec("sh", ["-c", script, "sh", shared, fixtures.bin]);
      const cases = [
        'exec "$2" run -v "$(printf "%s/data\\377" "$1"):/data" -- cat /data/who',
        'exec "$2" run --env-file "$(printf "%s/app\\377.env" "$1")" -- sh -c "echo $FOO"',
        'exec "$2" create other --from "dir:$(printf "%s/rootfs\\377" "$1")"',
        'exec "$2" run -- echo "$(printf "x\\377")"',
      ];
      for (const script of cases) {
        r = withByte(script);
        assert.equal(r.status, 125, `${script}: ${r.stdout}${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /^cm: argument ".*\\x(ff|377).*" is not valid UTF-8: cm would read it as another name or value/);
        assert.doesNotMatch(r.stdout, /ATTACKER|from-attacker/);
      }
      assert.deepEqual(readdirSync(decoy), ["who"], "nothing written into the decoded name's directory");
      r = sb.exec("sh", ["-c", 'CM_HOME="$(printf "%s/data\\377" "$1")" exec "$2" list', "sh", shared, fixtures.bin]);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /^cm: CM_HOME is not valid UTF-8 \(".*data\\xff"\): cm would read it as another path/);
      // paths that lead to such a name through a symbolic link, values and file contents
      const link = join(shared, "link");
      symlinkSync(own("data"), Buffer.from(link));
      const linked = sb.cm(["run", "-v", `${link}:/data`, "--", "true"]);
      const xffEnv = Buffer.concat([Buffer.from("FOO=a"), Buffer.from([0xff]), Buffer.from("b\n")]);
      writeFileSync(join(sb.project, "x.env"), xffEnv);
      const fromFile = sb.cm(["run", "--env-file", "x.env", "--", "true"]);
      const fromHost = sb.exec("sh", ["-c", 'FOO="$(printf "a\\377b")" exec "$1" run -e FOO -- true', "sh", fixtures.bin]);
      const dataLink = join(shared, "datalink");
      mkdirSync(own("cmdata"), { recursive: true });
      chownSync(own("cmdata"), sb.uid, sb.gid);
      symlinkSync(own("cmdata"), Buffer.from(dataLink));
      const behindLink = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"], { env: { CM_HOME: join(dataLink, "cm") } });
      const ranBehind = sb.cm(["run", "--", "true"], { env: { CM_HOME: join(dataLink, "cm") } });
      for (const [what, res, message] of [
        ["-v through a link", linked, /link leads to ".*\/data\\xff", which is not valid UTF-8/],
        ["an env file's content", fromFile, /--env-file .*x\.env is not valid UTF-8/],
        ["-e NAME's host value", fromHost, /the value of FOO in your environment is not valid UTF-8 \("a\\xffb"\)/],
        [
          "a data directory behind a link",
          behindLink.status === 0 ? ranBehind : behindLink,
          /leads to ".*cmdata\\xff.*", which is not valid UTF-8/,
        ],
      ] as const) {
        assert.equal(res.status, 125, `${what}: ${res.stdout}${res.stderr}`);
        assert.ok(isOneLineError(res.stderr), `${what}: ${res.stderr}`);
        assert.match(res.stderr, message, what);
      }
      const tomlBytes = Buffer.concat([Buffer.from('[run]\nenv = ["A=x'), Buffer.from([0xff]), Buffer.from('y"]\n')]);
      writeFileSync(join(sb.project, "cm.toml"), tomlBytes);
      r = sb.cm(["trust", "--show"]);
      assert.equal(r.status, 125, r.stdout);
      assert.match(r.stderr, /cm\.toml: it is not valid UTF-8 \(TOML files are\)/);
      rmSync(join(sb.project, "cm.toml"));
      // a name with a real U+FFFD is valid UTF-8, and is used like any other
      chownSync(decoy, sb.uid, sb.gid);
      r = sb.cm(["run", "-v", `${decoy}:/data`, "--", "cat", "/data/who"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "ATTACKER\n");
    });

    test("planted symlinks in a rootfs (/project -> /etc, apt.conf.d -> a host dir) never lead cm or runc out of it", () => {
      const sb = sandbox(as);
      const rootfs = join(sb.dir, "evil-rootfs");
      execFileSync("cp", ["-a", fixtures.busybox, rootfs]);
      const hostDir = sb.mkdir("host-target");
      const hostFile = join(sb.dir, "host-file");
      writeFileSync(hostFile, "original\n");
      rmSync(join(rootfs, "project"), { recursive: true, force: true });
      symlinkSync("/etc", join(rootfs, "project"));
      mkdirSync(join(rootfs, "etc/apt"), { recursive: true });
      symlinkSync(hostDir, join(rootfs, "etc/apt/apt.conf.d"));
      mkdirSync(join(rootfs, hostDir), { recursive: true }); // the same path inside the rootfs
      symlinkSync(hostFile, join(rootfs, hostDir, "99cm-sandbox"));
      symlinkSync(hostFile, join(rootfs, "etc/resolv.conf"));
      chownTree(rootfs, sb.uid, sb.gid);
      let r = sb.cm(["create", "--from", `dir:${rootfs}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(hostDir), [], "nothing written into the host directory");
      assert.equal(readFileSync(hostFile, "utf8"), "original\n", "the host file is untouched");
      r = sb.cm(["run", "--", "sh", "-c", "touch /project/planted && echo hacked > /etc/resolv.conf; ls /project"]);
      assert.ok(existsSync(join(sb.project, "planted")), `the write landed in the project: ${r.stderr}`);
      assert.ok(!existsSync("/etc/planted"), "not in the host's /etc");
      assert.equal(readFileSync(hostFile, "utf8"), "original\n");
      assert.ok(!existsSync(join(hostDir, "99cm-sandbox")));
    });

    test("two concurrent creates of one bundle: one wins, the other is a clear error", async () => {
      const sb = sandbox(as);
      const children = [0, 1].map(() => sb.spawn(["create", "--from", `tar:${fixtures.debianTar}`, "-q"]));
      const results = await Promise.all(children.map(finished));
      const ok = results.filter((r) => r.status === 0);
      const failed = results.filter((r) => r.status !== 0);
      assert.equal(ok.length, 1, results.map((r) => r.stderr).join("|"));
      assert.equal(failed[0]?.status, 125);
      assert.ok(isOneLineError(failed[0]?.stderr ?? ""), failed[0]?.stderr);
      assert.match(failed[0]?.stderr ?? "", /being created or deleted by another cm|already exists/);
      assert.deepEqual(readdirSync(projectData(sb)).sort(), ["default"]);
      assert.equal(sb.cm(["run", "--", "true"]).status, 0);
    });

    test("delete during create --force is refused clearly; the create completes", async () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const child = sb.spawn(["create", "--force", "--from", `tar:${fixtures.debianTar}`, "-q"]);
      const done = finished(child);
      // a lock is a symlink naming its owner (store/lock.ts): existsSync would follow it
      await waitFor("the create to take its lock", () => lstatOrUndefined(join(projectData(sb), ".default.lock")) !== undefined);
      const del = sb.cm(["delete"]);
      const r = await done;
      assert.equal(r.status, 0, r.stderr);
      assert.equal(del.status, 125, del.stderr);
      assert.ok(isOneLineError(del.stderr), del.stderr);
      assert.match(del.stderr, /being created or deleted by another cm/);
      assert.equal(sb.cm(["run", "--", "test", "-e", "/usr/bin/perl"]).status, 0, "the new bundle is in place");
    });

    test("delete during run: a process ignoring SIGTERM is killed after the grace period (137); the rootfs goes after it", async () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const { done } = await startRun(sb, "trap '' TERM; echo ready; while :; do sleep 1; done");
      const del = sb.cm(["delete", "--time", "1"]);
      assert.equal(del.status, 0, del.stderr);
      const r = await done;
      assert.equal(r.status, 137, r.stderr);
      assert.deepEqual(processesInData(sb), []);
      assert.ok(!existsSync(projectData(sb)));
      assert.deepEqual(runsOf(sb), []);
    });

    test("create --force while a container runs: the old rootfs stays until the container is gone", async () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const { done } = await startRun(sb, "echo ready; while :; do sleep 1; done");
      const r = sb.cm(["create", "--force", "--from", `dir:${fixtures.busybox}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
      const aside = readdirSync(projectData(sb)).filter((n) => n.startsWith(".default.deleting-"));
      assert.equal(aside.length, 1, "the old bundle is kept aside");
      assert.ok(existsSync(join(projectData(sb), aside[0] as string, "rootfs", "bin", "sh")), "with its rootfs intact");
      assert.ok(processesInData(sb).length > 0, "the container still runs");
      assert.match(sb.cm(["list"]).stderr, /not completely deleted/);
      const del = sb.cm(["delete", "--time", "1"]);
      assert.equal(del.status, 0, del.stderr);
      assert.notEqual((await done).status, 0);
      assert.ok(!existsSync(projectData(sb)));
      assert.deepEqual(processesInData(sb), []);
    });

    test("delete removes what a container left with mode 000", () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const r = sb.cm(["run", "--", "sh", "-c", "mkdir -p /d/a/b && touch /d/a/b/f /d/g && chmod 000 /d/a/b/f /d/a/b /d/a /d/g /d"]);
      assert.equal(r.status, 0, r.stderr);
      const del = sb.cm(["delete"]);
      assert.equal(del.status, 0, del.stderr);
      assert.ok(!existsSync(projectData(sb)));
    });

    test("kill -9 during create: the next create recovers (stale lock and work directory)", async () => {
      const sb = sandbox(as);
      const child = sb.spawn(["create", "--from", `tar:${fixtures.debianTar}`, "-q"]);
      const done = exited(child);
      await waitFor("the create to start extracting", () => {
        const d = projectData(sb);
        return existsSync(d) && readdirSync(d).some((n) => n.startsWith(".default.creating-") && existsSync(join(d, n, "rootfs", "usr")));
      });
      child.kill("SIGKILL");
      await done;
      assert.ok(readdirSync(projectData(sb)).some((n) => n.startsWith(".default.creating-")));
      const list = sb.cm(["list"]);
      assert.equal(list.status, 0);
      assert.match(list.stderr, /interrupted create of bundle default/);
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(readdirSync(projectData(sb)), ["default"]);
      assert.equal(sb.cm(["list"]).stderr, "");
    });

    test("kill -9 of cm run: the container is found and stopped by delete, also with runc's state gone", async () => {
      for (const dropRuncState of [false, true]) {
        const sb = sandbox(as);
        assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
        const { child, exit } = await startRun(sb, "trap '' TERM; echo ready; while :; do sleep 1; done");
        child.kill("SIGKILL");
        await exit;
        const [id] = runsOf(sb);
        assert.ok(id, "the run record is still there");
        assert.ok(processesInData(sb).length > 0, "the container outlived cm");
        if (dropRuncState) rmSync(join(sb.env.CM_STATE_DIR as string, "runc", id), { recursive: true, force: true });
        const del = sb.cm(["delete", "--time", "1"]);
        assert.equal(del.status, 0, `${dropRuncState}: ${del.stderr}`);
        assert.deepEqual(processesInData(sb), []);
        assert.ok(!existsSync(projectData(sb)));
        assert.deepEqual(runsOf(sb), []);
      }
    });

    test("kill -9 of cm delete while it waits on a container: the next delete finishes the job", async () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const { done } = await startRun(sb, "trap '' TERM; echo ready; while :; do sleep 1; done");
      const del = sb.spawn(["delete", "--time", "60"]);
      const delDone = exited(del);
      await waitFor("delete to set the bundle aside", () => readdirSync(projectData(sb)).some((n) => n.startsWith(".default.deleting-")));
      del.kill("SIGKILL");
      await delDone;
      assert.match(sb.cm(["list"]).stderr, /not completely deleted/);
      const again = sb.cm(["delete", "proj", "--time", "1"]);
      assert.equal(again.status, 0, again.stderr);
      assert.equal((await done).status, 137);
      assert.deepEqual(processesInData(sb), []);
      assert.ok(!existsSync(projectData(sb)));
    });

    test("two creates racing for a dead cm's lock: exactly one creates the bundle (a stale lock is taken over once)", async () => {
      const sb = sandbox(as, "racer");
      const d = projectData(sb, "racer");
      for (let round = 0; round < 6; round++) {
        sb.exec("rm", ["-rf", d]);
        sb.exec("mkdir", ["-p", d]);
        symlinkSync(`999999:${round + 1}`, join(d, ".default.lock")); // its cm was killed with -9
        chownTree(d, sb.uid, sb.gid);
        const both = await Promise.all([0, 1].map(() => cmAsync(sb, ["create", "--from", `dir:${fixtures.busybox}`, "-q"])));
        const created = both.filter((r) => r.status === 0);
        assert.equal(created.length, 1, both.map((r) => `${r.status}: ${r.stderr}`).join("\n"));
        const other = both.find((r) => r.status !== 0);
        assert.ok(other && isOneLineError(other.stderr), other?.stderr ?? "");
        assert.doesNotMatch(other?.stderr ?? "", /pid -1/);
      }
      assert.deepEqual(readdirSync(d), ["default"], "no lock, takeover lock or anything else left");
    });

    test("an interrupted delete's leftover (dead owner, stale lock) is retried by delete and cleared by create", () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const d = projectData(sb);
      // The state a delete killed between its rename and its removal leaves: pid 999999 is not running.
      renameSync(join(d, "default"), join(d, ".default.deleting-999999"));
      symlinkSync("999999:1", join(d, ".default.lock"));
      chownTree(d, sb.uid, sb.gid);
      assert.match(sb.cm(["list"]).stderr, /bundle default of project proj was not completely deleted: .*retry: cm delete proj default/);
      const del = sb.cm(["delete", "proj"]);
      assert.equal(del.status, 0, del.stderr);
      assert.ok(!existsSync(d));
      assert.equal(sb.cm(["delete", "proj"]).status, 125, "nothing left to delete");
    });
  });
}

describe("wrapper hardening (root only: mounts on the host)", () => {
  test("delete never crosses into a bind mount inside a bundle; the bundle stays aside, reported, and is retried", () => {
    const sb = sandbox("root");
    assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
    const src = sb.mkdir("precious");
    writeFileSync(join(src, "keep"), "do not delete\n");
    const target = join(projectData(sb), "default", "rootfs", "mnt");
    mkdirSync(target);
    execFileSync("mount", ["--bind", src, target]);
    let mountedAt = target;
    try {
      const r = sb.cm(["delete"]);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /not removed: .*mount point inside it.*kept aside as .*\.default\.deleting-\d+/);
      assert.equal(readFileSync(join(src, "keep"), "utf8"), "do not delete\n");
      const aside = readdirSync(projectData(sb)).find((n) => n.startsWith(".default.deleting-"));
      assert.ok(aside, "kept aside");
      mountedAt = join(projectData(sb), aside, "rootfs", "mnt");
      assert.ok(lstatSync(join(mountedAt, "keep")).isFile(), "the tree was not touched below the mount");
      assert.match(sb.cm(["list"]).stderr, /not completely deleted/);
      assert.equal(sb.cm(["delete", "proj"]).status, 125, "still mounted: still refused");
      execFileSync("umount", [mountedAt]);
      mountedAt = "";
      const again = sb.cm(["delete", "proj"]);
      assert.equal(again.status, 0, again.stderr);
      assert.ok(!existsSync(projectData(sb)));
      assert.equal(readFileSync(join(src, "keep"), "utf8"), "do not delete\n");
    } finally {
      if (mountedAt) spawnSync("umount", [mountedAt]);
    }
  });
});
