/**
 * The path cm checks is the path that is mounted: a directory raced against a symlink to /etc
 * (renameat2 RENAME_EXCHANGE in a loop) while cm runs must never put the host's /etc into the
 * container, neither as a -v source nor as the project directory. A run either gets the real
 * directory or does not start (the mount check of core/runtime-spec/verify.ts, or cm's own checks).
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, copyFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runSpec } from "../../src/core/runtime-spec/index.ts";
import { fixtures, type Sandbox, sandbox, USERS } from "../helpers/cm.ts";
import { storedSpec } from "../helpers/runtime-spec.ts";

const RUNS = 40;

/** Starts the exchange loop as the sandbox's user; resolves once it races. */
function race(sb: Sandbox, a: string, b: string): Promise<ChildProcess> {
  const as = sb.as;
  // a copy the test user can read
  const helper = join(sb.dir, "exchange.py");
  copyFileSync(join(import.meta.dirname, "..", "helpers", "exchange.py"), helper);
  chmodSync(helper, 0o644);
  const argv =
    as === "root"
      ? ["/usr/bin/python3", helper, a, b]
      : ["setpriv", `--reuid=${fixtures.user}`, `--regid=${fixtures.user}`, "--init-groups", "--", "/usr/bin/python3", helper, a, b];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    child.stdout?.once("data", () => resolve(child));
    child.once("exit", (code) => reject(new Error(`exchange.py ended (${code})`)));
  });
}

function stopRace(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

for (const as of USERS) {
  describe(`mount race (${as})`, () => {
    const sb = sandbox(as);

    test("setup: a bundle", () => {
      const r = sb.cm(["create", "-q", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
    });

    // The container can write the project: a -v source in it is the container's to swap.
    test(`-v DIR:/x (DIR in the project) raced against a symlink to /etc, ${RUNS} runs: /x is never the host's /etc`, async () => {
      const dir = sb.mkdir("work", "proj", "cache");
      writeFileSync(join(dir, "marker"), "mine\n", { mode: 0o644 });
      const link = join(sb.project, "l");
      symlinkSync("/etc", link);
      const child = await race(sb, dir, link);
      const outcomes = { mine: 0, refused: 0 };
      try {
        for (let i = 0; i < RUNS; i++) {
          const r = sb.cm(["run", "-v", `${dir}:/x`, "--", "sh", "-c", "cat /x/marker 2>/dev/null || ls /x"], { cwd: sb.project });
          assert.doesNotMatch(r.stdout, /passwd|hostname/, `run ${i}: the host's /etc was mounted at /x`);
          if (r.status === 0 && r.stdout === "mine\n") outcomes.mine++;
          else outcomes.refused++;
        }
      } finally {
        await stopRace(child);
      }
      assert.equal(outcomes.mine + outcomes.refused, RUNS);
    });

    test(`the project directory raced against a symlink to /etc, ${RUNS} runs: /project is never the host's /etc`, async () => {
      writeFileSync(join(sb.project, "marker"), "mine\n", { mode: 0o644 });
      const link = join(sb.dir, "work", "proj-link");
      symlinkSync("/etc", link);
      const child = await race(sb, sb.project, link);
      try {
        for (let i = 0; i < RUNS; i++) {
          const r = sb.cm(["run", "--project", "proj", "--", "sh", "-c", "cat /project/marker 2>/dev/null || ls /project"], {
            cwd: sb.dir,
          });
          assert.doesNotMatch(r.stdout, /passwd|hostname/, `run ${i}: the host's /etc was mounted at /project`);
        }
      } finally {
        await stopRace(child);
      }
      // the loop may have stopped on either side: put the project back
      const r = sb.exec(
        "sh",
        [
          "-c",
          `test -L ${sb.project} && python3 -c 'import ctypes,sys;ctypes.CDLL(None).renameat2(-100,sys.argv[1].encode(),-100,sys.argv[2].encode(),2)' ${sb.project} ${link}; cat ${sb.project}/marker`,
        ],
        { cwd: sb.dir },
      );
      assert.equal(r.stdout, "mine\n");
    });

    // The second race (a container of the same bundle swapping the destination in the shared rootfs
    // after the mount) cannot be timed in a test; its end state can be built: the swapped source
    // mounted at the old destination, and the destination now a symlink to the checked directory
    // seen through /project (the right device and inode, but not a mount point).
    test("the mount check refuses a destination that leads to the checked directory without being its mount", () => {
      const dir = sb.mkdir("hookcheck");
      sb.mkdir("hookcheck", "project");
      sb.mkdir("hookcheck", "project", "cache");
      const hook = runSpec(storedSpec(as === "rootless"), {
        rootfsPath: "/r",
        args: ["true"],
        terminal: false,
        mountChecks: [{ destination: "/x", dev: "DEV", ino: "INO" }],
      }).hooks?.createContainer?.[0];
      assert.ok(hook?.args);
      const script = hook.args[2] as string;
      writeFileSync(join(dir, "check.pl"), script, { mode: 0o644 });
      const setup = [
        "set -e",
        `cd ${dir}`,
        "mkdir -p rootfs/project rootfs/old rootfs/y",
        "mount --bind project rootfs/project",
        "mount --bind /etc rootfs/old",
        "mount --bind project/cache rootfs/y",
        "ln -s /project/cache rootfs/x",
        "want=$(stat -c %d:%i project/cache)",
        "cd rootfs",
        // the attack's end state: refused
        'if perl ../check.pl /x "$want"; then echo ACCEPTED-SYMLINK; fi',
        // the same directory properly mounted: accepted
        'perl ../check.pl /y "$want" && echo accepted-mount',
      ].join("\n");
      const unshare = as === "root" ? ["-m", "--propagation", "private"] : ["-Urm", "--propagation", "private"];
      const r = sb.exec("unshare", [...unshare, "sh", "-c", setup]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /ACCEPTED-SYMLINK/);
      assert.match(r.stderr, /cm: \/x is not what cm checked/);
      assert.match(r.stdout, /accepted-mount/);
    });
  });
}
