import assert from "node:assert/strict";
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import { describe, test } from "node:test";
import { finished, fixtures, isOneLineError, runscBundle, sandbox, USERS, waitFor } from "../helpers/cm.ts";

/** The network interfaces a container sees, one per line (busybox ip). */
const LINKS = "ip link | sed -n 's/^[0-9]*: \\([^:@]*\\).*/\\1/p'";

for (const as of USERS) {
  describe(`cm run options (${as})`, () => {
    const sb = sandbox(as, "opts");
    const fail = (args: string[], why: RegExp, opts: { env?: Record<string, string> } = {}) => {
      const r = sb.cm(args, opts);
      assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
      assert.ok(isOneLineError(r.stderr), `${args.join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, why);
      assert.equal(r.stdout, "");
    };
    test("setup: a busybox bundle", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("-e KEY=VALUE, --env KEY from the host, --env-file; later values win; nothing else leaks", () => {
      const file = join(sb.dir, "vars.env");
      writeFileSync(file, "# settings\nFROM_FILE=file value\nBOTH=file\n\nFROM_HOST_IN_FILE\n");
      const r = sb.cm(["run", "--env-file", file, "-e", "A=1", "--env", "B=x=y", "-e", "HOSTVAR", "-e", "BOTH=flag", "--", "env"], {
        env: { HOSTVAR: "from host", FROM_HOST_IN_FILE: "hf", SECRET: "leak" },
      });
      assert.equal(r.status, 0, r.stderr);
      const env = r.stdout.trim().split("\n");
      for (const e of ["A=1", "B=x=y", "HOSTVAR=from host", "FROM_FILE=file value", "FROM_HOST_IN_FILE=hf", "BOTH=flag", "HOME=/root"]) {
        assert.ok(env.includes(e), `${e} in ${r.stdout}`);
      }
      assert.ok(!env.includes("BOTH=file"));
      assert.doesNotMatch(r.stdout, /SECRET/);
    });

    test("-e PATH=... is used to find the command, as inside", () => {
      const tools = sb.mkdir("tools");
      writeFileSync(join(tools, "hello-tool"), "#!/bin/sh\necho hello from a tool\n", { mode: 0o755 });
      const r = sb.cm(["run", "-v", `${tools}:/opt/tools:ro`, "-e", "PATH=/opt/tools:/bin", "--", "hello-tool"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "hello from a tool\n");
      assert.equal(sb.cm(["run", "-v", `${tools}:/opt/tools:ro`, "--", "hello-tool"]).status, 127);
    });

    test("env errors: unset host variable, bad name, missing or bad env file (file:line)", () => {
      fail(["run", "-e", "NOT_SET_ANYWHERE", "--", "true"], /NOT_SET_ANYWHERE is not set in your environment/);
      fail(["run", "-e", "1BAD=x", "--", "true"], /invalid variable name "1BAD"/);
      fail(["run", "--env-file", join(sb.dir, "nope.env"), "--", "true"], /nope\.env: no such file/);
      fail(["run", "--env-file", sb.dir, "--", "true"], /--env-file/);
      const bad = join(sb.dir, "bad.env");
      writeFileSync(bad, "OK=1\n# c\nnot a line\n");
      fail(["run", "--env-file", bad, "--", "true"], /bad\.env:3: is not KEY=VALUE or KEY/);
    });

    test("-v: read-write and read-only binds; SRC by its real path; relative SRC", () => {
      const data = sb.mkdir("data");
      writeFileSync(join(data, "in.txt"), "from host\n");
      const link = join(sb.dir, "data-link");
      symlinkSync(data, link);
      const r = sb.cm(["run", "-v", `${link}:/data`, "--", "sh", "-c", "cat /data/in.txt; echo new > /data/out.txt"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "from host\n");
      assert.equal(readFileSync(join(data, "out.txt"), "utf8"), "new\n");
      const ro = sb.cm(["run", "-v", `${data}:/ro:ro`, "--", "sh", "-c", "cat /ro/in.txt; echo x > /ro/x 2>/dev/null || echo read-only"]);
      assert.equal(ro.status, 0, ro.stderr);
      assert.equal(ro.stdout, "from host\nread-only\n");
      const rel = sb.cm(["run", "-v", "../../data:/rel:ro", "--", "cat", "/rel/in.txt"]);
      assert.equal(rel.status, 0, rel.stderr);
      assert.equal(rel.stdout, "from host\n");
    });

    test("-v .:/project:ro makes the project read-only; anything else on or below /project is refused", () => {
      const r = sb.cm([
        "run",
        "-v",
        ".:/project:ro",
        "--",
        "sh",
        "-c",
        "ls /project >/dev/null && (touch /project/x 2>/dev/null && echo writable || echo read-only)",
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "read-only\n");
      const other = sb.mkdir("other");
      fail(["run", "-v", `${other}:/project`, "--", "true"], /\/project is the project directory and cannot be replaced/);
      fail(["run", "-v", `${other}:/project/sub`, "--", "true"], /inside \/project/);
    });

    test("-v errors: missing SRC, relative DST, bad option, two on one DST", () => {
      const other = sb.mkdir("other2");
      fail(["run", "-v", `${sb.dir}/missing:/m`, "--", "true"], /missing does not exist/);
      fail(["run", "-v", `${other}:rel`, "--", "true"], /not an absolute path/);
      fail(["run", "-v", `${other}:/m:rox`, "--", "true"], /unknown option "rox"/);
      fail(["run", "-v", other, "--", "true"], /no ':'/);
      fail(["run", "-v", `${other}:/m`, "-v", `${other}:/m/`, "--", "true"], /two volumes on \/m/);
      fail(["run", "-v", `${other}:/proc/x`, "--", "true"], /managed by the runtime/);
    });

    test("-v of cm's own directories, or of a directory holding one, is refused writable and allowed read-only", () => {
      // a container that writes them reaches the host through cm: approvals it trusts, a review's
      // record it applies, a code cache it runs
      const own = [sb.env.CM_HOME, sb.env.CM_STATE_DIR, sb.env.CM_CACHE_DIR, join(sb.home, ".config", "cm")] as string[];
      for (const dir of [...own, sb.home]) {
        sb.exec("mkdir", ["-p", dir]);
        fail(["run", "-v", `${dir}:/h`, "--", "true"], /contains or is inside cm's own directory .*\(mount it read-only \(:ro\)/);
      }
      const ro = sb.cm(["run", "-v", `${sb.env.CM_HOME}:/h:ro`, "--", "ls", "/h"]);
      assert.equal(ro.status, 0, ro.stderr);
    });

    test("--network none: only loopback, the host's loopback unreachable; host (default) sees the host's interfaces", async () => {
      const none = sb.cm(["run", "--network", "none", "--", "sh", "-c", LINKS]);
      assert.equal(none.status, 0, none.stderr);
      assert.deepEqual(none.stdout.trim().split("\n"), ["lo"]);
      const host = sb.cm(["run", "--", "sh", "-c", LINKS]);
      assert.equal(host.status, 0, host.stderr);
      assert.ok(host.stdout.trim().split("\n").length > 1, host.stdout);
      // A server on the host's loopback: reachable with the host network, not from none.
      const server = createServer((socket) => socket.end("hello from the host\n"));
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      const port = (server.address() as AddressInfo).port;
      try {
        const probe = `nc -w 2 127.0.0.1 ${port} </dev/null || echo unreachable`;
        const cm = (args: string[]) => finished(sb.spawn([...args, "--", "sh", "-c", probe]));
        assert.equal((await cm(["run", "--network", "none"])).stdout.trim(), "unreachable");
        assert.equal((await cm(["run"])).stdout.trim(), "hello from the host");
      } finally {
        server.close();
      }
      fail(["run", "--network", "bridge", "--", "true"], /invalid --network "bridge"/);
    });

    test("--read-only: the rootfs is read-only, /project stays writable", () => {
      const r = sb.cm([
        "run",
        "--read-only",
        "--",
        "sh",
        "-c",
        "touch /etc/x 2>/dev/null && echo rootfs-writable; echo ok > /project/ro-test && echo project-writable",
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "project-writable\n");
    });

    test("-w: working directory; relative refused", () => {
      const r = sb.cm(["run", "-w", "/etc", "--", "pwd"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "/etc\n");
      assert.equal(sb.cm(["run", "--workdir", "/project/", "--", "pwd"]).stdout, "/project\n");
      fail(["run", "-w", "etc", "--", "pwd"], /invalid --workdir "etc"/);
    });

    test("-t gives a terminal (under script), -T none even then", () => {
      const cmd = (flag: string) => `${fixtures.bin} run ${flag} -- sh -c 'test -t 0 && test -t 1 && echo tty || echo notty'`;
      const t = sb.exec("script", ["-qec", cmd("-t"), "/dev/null"]);
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, /(^|\W)tty\r?$/m);
      const nt = sb.exec("script", ["-qec", cmd("-T"), "/dev/null"]);
      assert.equal(nt.status, 0, nt.stderr);
      assert.match(nt.stdout, /(^|\W)notty\r?$/m);
      // no terminal to connect to: a clear error, nothing started
      fail(["run", "-t", "--", "sh", "-c", "echo started"], /--tty needs a terminal/);
    });

    test("limits: applied and visible (root), refused clearly (rootless on cgroup v1)", () => {
      const args = [
        "run",
        "--cpus",
        "0.5",
        "--pids-limit",
        "50",
        "--",
        "sh",
        "-c",
        "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/pids/pids.max",
      ];
      if (as === "root") {
        const r = sb.cm(args);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n"), ["50000", "100000", "50"]);
        // the pids limit holds: 60 background sleeps cannot all start
        const many = sb.cm([
          "run",
          "--pids-limit",
          "20",
          "--",
          "sh",
          "-c",
          "for i in $(seq 60); do sleep 5 & done 2>/dev/null; echo started",
        ]);
        assert.notEqual(many.stdout.trim(), "started");
      } else {
        fail(["run", "--cpus", "0.5", "--", "true"], /--cpus cannot be enforced for a rootless container.*cgroup v1/);
        fail(["run", "--pids-limit", "50", "--", "true"], /--pids-limit cannot be enforced for a rootless container.*cgroup v1/);
        fail(["run", "--memory", "64m", "--", "true"], /--memory cannot be enforced/);
      }
      fail(["run", "--cpus", "abc", "--", "true"], /invalid --cpus "abc"/);
      fail(["run", "--cpus", "9999", "--", "true"], /more than this host's/);
      fail(["run", "--pids-limit", "0", "--", "true"], /invalid --pids-limit "0"/);
    });

    test("--runtime runsc (gVisor): runs, exit status and /project as with runc", () => {
      const r = sb.cm([
        "run",
        "--runtime",
        "runsc",
        ...runscBundle(sb),
        "-e",
        "X=gvisor",
        "--",
        "sh",
        "-c",
        "echo $X > /project/gv.txt; dmesg | head -1; exit 3",
      ]);
      assert.equal(r.status, 3, r.stderr);
      assert.match(r.stdout, /gVisor|Starting/);
      assert.equal(readFileSync(join(sb.project, "gv.txt"), "utf8"), "gvisor\n");
      const none = sb.cm(["run", "--runtime", "runsc", ...runscBundle(sb), "--network", "none", "--", "sh", "-c", LINKS]);
      assert.equal(none.status, 0, none.stderr);
      assert.deepEqual(none.stdout.trim().split("\n"), ["lo"]);
      assert.equal(sb.cm(["run", "--runtime", "runsc", ...runscBundle(sb), "--", "no-such-command"]).status, 127);
    });

    test("--runtime runsc with limits: memory and CPU on the sandbox's cgroup (root), --pids-limit refused", () => {
      if (as === "root") {
        const id = sb.cm(["run", "-d", "--runtime", "runsc", "--memory", "64m", "--cpus", "0.5", "--", "sleep", "60"]).stdout.trim();
        assert.match(id, /^[0-9a-f]{12}$/);
        try {
          assert.equal(readFileSync(`/sys/fs/cgroup/memory/${id}/memory.limit_in_bytes`, "utf8").trim(), String(64 * 1024 * 1024));
          assert.equal(readFileSync(`/sys/fs/cgroup/cpu/${id}/cpu.cfs_quota_us`, "utf8").trim(), "50000");
        } finally {
          assert.equal(sb.cm(["stop", "--time", "0", id]).status, 0);
        }
        fail(["run", "--runtime", "runsc", "--pids-limit", "100", "--", "true"], /--pids-limit cannot be enforced with runsc/);
      } else {
        fail(
          ["run", "--runtime", "runsc", ...runscBundle(sb), "--memory", "64m", "--", "true"],
          /--memory cannot be enforced for a rootless container/,
        );
      }
    });

    test("--runtime crun is refused on this host's cgroup layout; unknown runtimes are clear errors", () => {
      assert.equal(sb.cm(["run", "--runtime", "/usr/sbin/runc", "--", "true"]).status, 0);
      fail(["run", "--runtime", "crun", "--", "true"], /crun does not support the cgroup v1 hybrid layout/);
      fail(["run", "--runtime", "no-such-runtime", "--", "true"], /no-such-runtime not found/);
      fail(["run", "--runtime", "/nonexistent/runc", "--", "true"], /not an executable file/);
      fail(["run", "--runtime", "./runc", "--", "true"], /a path must be absolute/);
    });

    test("-d: prints the ID and returns while the container runs on; its exit is recorded", async () => {
      const r = sb.cm(["run", "-d", "-e", "V=detached", "--", "sh", "-c", "sleep 1; echo $V > /project/detached.txt; exit 6"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "");
      const id = r.stdout.trim();
      assert.match(r.stdout, /^[0-9a-f]{12}\n$/);
      const entry = () =>
        (JSON.parse(sb.cm(["ps", "--all", "--json"]).stdout) as { id: string; status: string; exitCode: number | null }[]).find(
          (e) => e.id === id,
        );
      assert.equal(entry()?.status, "running");
      await waitFor("the detached container to end", () => entry()?.status === "exited");
      assert.equal(entry()?.exitCode, 6);
      assert.equal(readFileSync(join(sb.project, "detached.txt"), "utf8"), "detached\n");
    });

    test("-d with -t is refused", () => {
      fail(["run", "-d", "-t", "--", "true"], /--detach and --tty cannot be combined/);
    });
  });
}
