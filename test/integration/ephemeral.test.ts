/**
 * --ephemeral: the real cm on real runc with the busybox bundle, as root and rootless. The bundle's
 * rootfs is compared file by file (path, type, mode, size, mtime, content of regular files)
 * before and after; concurrent runs of one bundle synchronise through files in /project so that
 * each checks the other's change while both run. Together with --review and --allow-host (an HTTP
 * server on 127.0.0.1, reached by a name cm's proxy resolves through CM_PROXY_RESOLVE).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTime } from "../../src/host/pid.ts";
import { cmAsync, finished, fixtures, isOneLineError, sandbox, USERS, waitFor } from "../helpers/cm.ts";

/** Every entry below `root`: "path type mode size mtime [sha256]", sorted. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const type = st.isDirectory() ? "d" : st.isSymbolicLink() ? "l" : st.isFile() ? "f" : "o";
      const hash = st.isFile() ? createHash("sha256").update(readFileSync(p)).digest("hex") : "";
      out.push(`${p.slice(root.length)} ${type} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${hash}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(root);
  return out.sort();
}

let http: Server;
let httpPort = 0;
before(async () => {
  http = createServer((_req, res) => res.end("through the proxy\n"));
  httpPort = await new Promise<number>((resolve) => http.listen(0, "127.0.0.1", () => resolve((http.address() as AddressInfo).port)));
});
after(() => http.close());

for (const as of USERS) {
  describe(`cm run --ephemeral (${as})`, () => {
    const sb = sandbox(as, "eph");
    const rootfs = () => join(sb.env.CM_HOME as string, "eph", "default", "rootfs");
    const runs = () => join(sb.env.CM_STATE_DIR as string, "runs");
    const layers = () => join(sb.env.CM_HOME as string, ".ephemeral");
    let before: string[] = [];

    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      // A first plain run: runc makes the mount points the bundle lacks (/etc/resolv.conf) in it.
      assert.equal(sb.cm(["run", "--", "true"]).status, 0);
      before = snapshot(rootfs());
      assert.ok(before.length > 10);
    });

    test("changes to / are seen by the run and gone after it; /project is written as usual; the bundle is untouched", () => {
      const script = [
        "set -e",
        "echo new > /etc/eph-new",
        "echo changed >> /etc/passwd",
        "rm /bin/true",
        "mkdir -p /var/eph/dir && chmod 700 /var/eph/dir",
        "ln -s /etc/eph-new /eph-link",
        "cat /etc/eph-new",
        "tail -n 1 /etc/passwd",
        "test ! -e /bin/true && echo true-gone",
        "echo kept > /project/kept.txt",
      ].join("\n");
      const r = sb.cm(["run", "--ephemeral", "--", "sh", "-c", script]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "new\nchanged\ntrue-gone\n");
      assert.deepEqual(snapshot(rootfs()), before);
      assert.equal(readFileSync(join(sb.project, "kept.txt"), "utf8"), "kept\n");
      assert.deepEqual(readdirSync(runs()), [], "the run directory (and its upper) is removed");
      const plain = sb.cm(["run", "--", "sh", "-c", "test -e /etc/eph-new || echo absent; test -x /bin/true && echo present"]);
      assert.equal(plain.stdout, "absent\npresent\n");
    });

    test("two ephemeral runs of one bundle at once do not see each other's changes", async () => {
      // Each writes its mark into /etc, says so in /project, waits for the other's word, then looks.
      const script = (me: string, other: string) =>
        [
          `echo ${me} > /etc/mark-${me}`,
          `echo ${me} > /etc/shared`,
          `touch /project/ready-${me}`,
          `i=0; while [ ! -e /project/ready-${other} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
          `test -e /project/ready-${other} && echo saw-${other}-ready`,
          `test -e /etc/mark-${other} && echo LEAK || echo no-${other}`,
          "cat /etc/shared",
        ].join("\n");
      const a = finished(sb.spawn(["run", "--ephemeral", "--", "sh", "-c", script("a", "b")]));
      const b = finished(sb.spawn(["run", "--ephemeral", "--", "sh", "-c", script("b", "a")]));
      const [ra, rb] = await Promise.all([a, b]);
      assert.equal(ra.status, 0, ra.stderr);
      assert.equal(rb.status, 0, rb.stderr);
      assert.equal(ra.stdout, "saw-b-ready\nno-b\na\n");
      assert.equal(rb.stdout, "saw-a-ready\nno-a\nb\n");
      assert.deepEqual(snapshot(rootfs()), before);
    });

    test("detached: cm exec sees the run's changes; at the exit its upper is removed, the bundle untouched", async () => {
      const r = sb.cm(["run", "-d", "--ephemeral", "--", "sh", "-c", "echo detached > /etc/eph-d; trap 'exit 0' TERM; sleep 60 & wait"]);
      assert.equal(r.status, 0, r.stderr);
      const id = r.stdout.trim();
      await waitFor("the file inside", () => sb.cm(["exec", id, "--", "cat", "/etc/eph-d"]).stdout === "detached\n");
      assert.ok(existsSync(join(layers(), id, "upper", "etc", "eph-d")));
      assert.equal(sb.cm(["stop", id]).status, 0);
      await waitFor("the exit record", () => existsSync(join(runs(), id, "exit.json")));
      assert.equal(existsSync(layers()), false, "the layer is removed, and the empty .ephemeral with it");
      assert.deepEqual(snapshot(rootfs()), before);
      assert.equal(sb.cm(["gc"]).status, 0);
    });

    test("with --review and --allow-host: the project's changes wait for review, egress goes through the proxy, / is discarded", async () => {
      const script = [
        "echo gone > /etc/eph-combined",
        "echo reviewed > /project/reviewed.txt",
        `wget -q -O - http://allowed.test:${httpPort}/`,
      ].join("; ");
      const r = await cmAsync(
        sb,
        [
          "run",
          "--ephemeral",
          "--review",
          "--verbose",
          "--allow-host",
          `allowed.test:${httpPort}`,
          "--allow-host",
          `127.0.0.1:${httpPort}`,
          "--",
          "sh",
          "-c",
          script,
        ],
        { CM_PROXY_RESOLVE: "allowed.test=127.0.0.1" },
      );
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "through the proxy\n");
      assert.match(r.stderr, /^cm: egress: 1 connection allowed, 0 refused$/m);
      assert.match(r.stderr, /^cm: review: 1 change to \/project held back: cm diff /m);
      assert.equal(existsSync(join(sb.project, "reviewed.txt")), false);
      assert.match(sb.cm(["diff", "--stat"]).stdout, /^A reviewed\.txt/m);
      assert.equal(sb.cm(["discard"]).status, 0);
      assert.deepEqual(snapshot(rootfs()), before);
    });

    test("cm killed with SIGKILL: cm stop and cm gc remove the run's upper with its run directory", async () => {
      const child = sb.spawn(["run", "--ephemeral", "--", "sh", "-c", "echo k > /etc/eph-k; echo up; sleep 60"]);
      let out = "";
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      await waitFor("the container", () => out.includes("up"));
      const id = (JSON.parse(sb.cm(["ps", "--json"]).stdout) as { id: string }[])[0]?.id as string;
      const gone = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGKILL");
      await gone;
      assert.ok(existsSync(join(layers(), id, "upper", "etc", "eph-k")));
      assert.equal(sb.cm(["stop", "--time", "0", id]).status, 0);
      const g = sb.cm(["gc"]);
      assert.equal(g.status, 0, g.stderr);
      assert.match(g.stdout, new RegExp(`--ephemeral changes of run ${id} \\(its run is gone\\)`));
      assert.deepEqual(readdirSync(runs()), []);
      assert.equal(existsSync(layers()), false);
      assert.deepEqual(snapshot(rootfs()), before);
    });

    test("the layer is on disk with the bundles: a directory of the image replaced whole, then removed; gc keeps a layer whose run directory exists elsewhere", () => {
      // overlayfs needs xattrs on the upper's file system for this (user.* rootless; a tmpfs before
      // Linux 6.6 has none, and rm -r failed with EIO)
      const r = sb.cm(["run", "--ephemeral", "--", "sh", "-c", "rm -r /root && mkdir /root && echo x > /root/x && cat /root/x"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "x\n");
      assert.equal(existsSync(layers()), false);
      assert.deepEqual(snapshot(rootfs()), before);
      // a layer whose run lives in another state directory (another XDG_RUNTIME_DIR) is not this gc's to remove
      const elsewhere = join(sb.dir, "other-state-run");
      const layer = (id: string, owner: object) => {
        sb.exec("mkdir", ["-p", join(layers(), id, "upper"), elsewhere]);
        sb.exec("sh", ["-c", `printf %s '${JSON.stringify(owner)}' > ${join(layers(), id, "owner.json")}`]);
      };
      layer("0123456789ab", { runDir: elsewhere, pid: 999999, start: 1 });
      // nor one whose run directory is out of sight (logind removed /run/user/UID) while the cm that made it lives
      layer("0123456789cd", { runDir: join(sb.dir, "gone-state/runs/x"), pid: process.pid, start: startTime(process.pid) });
      // a removal a killed cm left half done, a layer of one killed while making it
      sb.exec("mkdir", [
        "-p",
        join(layers(), ".0123456789ef.removing-999999/upper/etc"),
        join(layers(), ".0123456789fe.making-999999/upper"),
      ]);
      const g1 = sb.cm(["gc"]);
      assert.equal(g1.stderr, "");
      assert.equal(
        g1.stdout,
        "removed interrupted removal of --ephemeral changes of run 0123456789ef\nremoved interrupted start of --ephemeral changes of run 0123456789fe\n",
      );
      assert.deepEqual(readdirSync(layers()).sort(), ["0123456789ab", "0123456789cd"]);
      sb.exec("rmdir", [elsewhere]);
      assert.equal(sb.cm(["gc"]).stdout, "removed --ephemeral changes of run 0123456789ab (its run is gone)\n");
      layer("0123456789cd", { runDir: join(sb.dir, "gone-state/runs/x"), pid: 999999, start: 1 });
      assert.equal(sb.cm(["gc"]).stdout, "removed --ephemeral changes of run 0123456789cd (its run is gone)\n");
      assert.equal(existsSync(layers()), false);
    });

    test("a runtime other than runc is refused in one line", () => {
      const r = sb.cm(["run", "--ephemeral", "--runtime", "crun", "--", "true"]);
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /--ephemeral works with runc only/);
    });
  });
}
