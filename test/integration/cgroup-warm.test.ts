/**
 * cm's start of the kernel's cgroup-migration grace period (host/cgroup-warm.ts) moves cm nowhere:
 * it writes its own pid only into the cgroup.procs that lists it. Run in a cgroup of the test's
 * own, once plainly and once in a new cgroup namespace, where /proc/self/cgroup says "/" while
 * /sys/fs/cgroup still shows the host's hierarchy: there, writing blindly would move cm (as root,
 * on cgroup v1, the kernel allows it) into the host's root cgroup, out of its own.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { finished, fixtures, sandbox, USERS, waitFor } from "../helpers/cm.ts";

const V2 = existsSync("/sys/fs/cgroup/cgroup.controllers");
/** the hierarchy a test cgroup is made in, and the /proc/PID/cgroup line prefix that names it */
const HIERARCHY = V2 ? { dir: "/sys/fs/cgroup", line: "0::" } : { dir: "/sys/fs/cgroup/pids", line: ":pids:" };

/** The cgroup `pid` is in, in HIERARCHY. */
function cgroupOf(pid: number): string | undefined {
  const line = readFileSync(`/proc/${pid}/cgroup`, "utf8")
    .split("\n")
    .find((l) => (V2 ? l.startsWith(HIERARCHY.line) : l.includes(HIERARCHY.line)));
  return line?.slice(line.indexOf(HIERARCHY.line) + HIERARCHY.line.length);
}

for (const as of USERS) {
  describe(`cgroup warm-up (${as})`, () => {
    const sb = sandbox(as, "warm");
    test("setup: a bundle", () => {
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
    });

    // A new cgroup namespace makes cm's own runc unable to place the container on cgroup v2
    // (its cgroup lies outside the namespace); there the kernel itself refuses any move out of it.
    const cases = V2 ? [false] : [false, true];
    for (const namespace of cases) {
      test(`cm run stays in its own cgroup${namespace ? ", also in a new cgroup namespace with the host's hierarchy mounted" : ""}`, async (t) => {
        const name = `cm-it-warm-${process.pid}-${namespace ? "ns" : "plain"}-${as}`;
        const dir = join(HIERARCHY.dir, name);
        mkdirSync(dir);
        t.after(() => rmdirSync(dir));
        const user = as === "root" ? [] : ["setpriv", `--reuid=${fixtures.user}`, `--regid=${fixtures.user}`, "--init-groups", "--"];
        const envArgs = Object.entries(sb.env).map(([k, v]) => `${k}=${v}`);
        const argv = [
          ...(namespace ? ["unshare", "-C", "--"] : []),
          ...user,
          "env",
          "-i",
          ...envArgs,
          fixtures.bin,
          "run",
          "--",
          "sh",
          "-c",
          "echo ready; sleep 2",
        ];
        // the shell moves itself into the test's cgroup, then becomes (exec) cm: the same pid
        const child = spawn("sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, ...argv], {
          cwd: sb.project,
          stdio: ["ignore", "pipe", "pipe"],
        });
        const done = finished(child);
        let out = "";
        child.stdout?.on("data", (d: Buffer) => {
          out += d.toString();
        });
        await waitFor("the container to start", () => out.includes("ready"));
        const pid = child.pid as number;
        assert.match(readFileSync(`/proc/${pid}/cmdline`, "utf8"), /dist\/main\.js\0run/, "the pid is cm's");
        assert.equal(cgroupOf(pid), `/${name}`, "cm is still in its cgroup");
        const r = await done;
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "ready\n");
      });
    }
  });
}
