import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { finished, fixtures, isOneLineError, sandbox, spawnUntilReady, USERS } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm run (${as})`, () => {
    const sb = sandbox(as, "run proj é");
    test("setup: a busybox bundle", () => {
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
    });

    test("runs in /project as root inside, files land on the host owned by the invoking user", () => {
      const r = sb.cm(["run", "--", "sh", "-c", "pwd; id -u; echo hello > /project/out.txt"]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trim().split("\n"), ["/project", "0"]);
      const st = statSync(join(sb.project, "out.txt"));
      assert.equal(st.uid, sb.uid);
      assert.equal(st.gid, sb.gid);
      assert.equal(readFileSync(join(sb.project, "out.txt"), "utf8"), "hello\n");
    });

    test("hostname is the project name (as a valid hostname)", () => {
      const r = sb.cm(["run", "--", "hostname"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), "run-proj");
    });

    test("exit status is the command's own", () => {
      assert.equal(sb.cm(["run", "--", "sh", "-c", "exit 3"]).status, 3);
      assert.equal(sb.cm(["run", "--", "true"]).status, 0);
    });

    test("127 for a missing command, 126 for a non-executable one, one-line errors", () => {
      const missing = sb.cm(["run", "--", "no-such-command"]);
      assert.equal(missing.status, 127);
      assert.ok(isOneLineError(missing.stderr), missing.stderr);
      const notExec = sb.cm(["run", "--", "/etc/passwd"]);
      assert.equal(notExec.status, 126);
      assert.ok(isOneLineError(notExec.stderr), notExec.stderr);
    });

    test("piped stdin works without a terminal", () => {
      const r = sb.cm(["run", "--", "sh", "-c", "cat; test -t 0 && echo tty || echo notty"], { input: "from stdin\n" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "from stdin\nnotty\n");
    });

    test("default command is a login shell reading stdin", () => {
      const r = sb.cm(["run"], { input: "echo $0; exit 7\n" });
      assert.equal(r.status, 7, r.stderr);
      assert.match(r.stdout, /sh/);
    });

    test("the host environment is not passed in; HOME, PATH, TERM are set", () => {
      const r = sb.cm(["run", "--", "env"], { env: { SECRET_TOKEN: "leak" } });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /SECRET_TOKEN/);
      assert.match(r.stdout, /^HOME=\/root$/m);
      assert.match(r.stdout, /^PATH=/m);
      assert.match(r.stdout, /^TERM=/m);
    });

    test("SIGTERM and SIGINT reach the container's process; run state is cleaned up", async () => {
      for (const [signal, code] of [
        ["SIGTERM", 143],
        ["SIGINT", 130],
        ["SIGHUP", 129],
      ] as const) {
        const script = `trap 'exit ${code}' ${signal.slice(3)}; echo ready; while :; do sleep 0.1; done`;
        const { child, done } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", script], "the container to start");
        child.kill(signal);
        const r = await done;
        assert.equal(r.status, code, r.stderr);
      }
      assert.deepEqual(readdirSync(join(sb.env.CM_STATE_DIR as string, "runs")), []);
    });

    test("a container killed with SIGKILL exits 137", async () => {
      const { done } = await spawnUntilReady(sb, ["run", "--", "sh", "-c", "echo ready; sleep 60"], "the container to start");
      const runs = readdirSync(join(sb.env.CM_STATE_DIR as string, "runs"));
      assert.equal(runs.length, 1);
      const kill = sb.exec("/usr/sbin/runc", ["--root", join(sb.env.CM_STATE_DIR as string, "runc"), "kill", runs[0] as string, "KILL"]);
      assert.equal(kill.status, 0, kill.stderr);
      const r = await done;
      assert.equal(r.status, 137);
    });

    test("several runs of one bundle at once, each with its own ID", async () => {
      const children = Array.from({ length: 5 }, (_, i) => sb.spawn(["run", "--", "sh", "-c", `sleep 0.5; echo ${i}`]));
      const results = await Promise.all(children.map(finished));
      results.forEach((r, i) => {
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout.trim(), String(i));
      });
      assert.deepEqual(readdirSync(join(sb.env.CM_STATE_DIR as string, "runs")), []);
    });

    test("a terminal is allocated when stdin is a terminal (and -T turns it off)", () => {
      const cmd = (flags: string) => `${fixtures.bin} run ${flags} -- sh -c 'test -t 0 && test -t 1 && echo tty || echo notty'`;
      const withTty = sb.exec("script", ["-qec", cmd(""), "/dev/null"]);
      assert.equal(withTty.status, 0, withTty.stderr + withTty.stdout);
      assert.match(withTty.stdout, /(^|[^o])tty\r?$/m);
      const forcedOff = sb.exec("script", ["-qec", cmd("-T"), "/dev/null"]);
      assert.match(forcedOff.stdout, /notty\r?$/m);
    });

    test("works without XDG_RUNTIME_DIR or CM_STATE_DIR (state in /run/cm or /tmp/cm-<uid>)", () => {
      const env = { ...sb.env };
      delete env.CM_STATE_DIR;
      const r = sb.exec("env", ["-u", "CM_STATE_DIR", "-u", "XDG_RUNTIME_DIR", fixtures.bin, "run", "--", "echo", "ok"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "ok\n");
      const state = as === "root" ? "/run/cm" : `/tmp/cm-${sb.uid}`;
      assert.equal(statSync(state).mode & 0o777, 0o700);
      assert.equal(statSync(state).uid, sb.uid);
    });

    test("--project NAME runs that project's recorded directory from anywhere, even from $HOME", () => {
      const r = sb.cm(["run", "--project", "run proj é", "--", "sh", "-c", "ls /project"], { cwd: sb.home });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /out\.txt/);
    });

    test("the stored config.json is not modified by a run", () => {
      const data = sb.env.CM_HOME as string;
      const [key] = readdirSync(data);
      const file = join(data, key as string, "default", "config.json");
      const before = readFileSync(file, "utf8");
      assert.equal(sb.cm(["run", "--memory", "64m", "--", "true"]).status, as === "root" ? 0 : 125);
      assert.equal(readFileSync(file, "utf8"), before);
    });

    test("from a subdirectory of the project: the project's bundle, started in that subdirectory", () => {
      const sub = sb.mkdir("work", "run proj é", "src", "deep");
      const r = sb.cm(["run", "--", "sh", "-c", "pwd; ls /project"], { cwd: sub });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.split("\n")[0], "/project/src/deep");
      assert.match(r.stdout, /out\.txt/);
      const w = sb.cm(["run", "-w", "/tmp", "--", "sh", "-c", "pwd"], { cwd: sub });
      assert.equal(w.stdout, "/tmp\n");
    });

    test("a different directory with the same name is refused, with a hint", () => {
      const other = sb.mkdir("elsewhere", "run proj é");
      const r = sb.cm(["run", "--", "true"], { cwd: other });
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /belongs to .*--project/);
    });

    test("bad input: one-line errors, exit 125", () => {
      for (const args of [
        ["run", "--memory", "banana", "--", "true"],
        ["run", "--memory", "-1", "--", "true"],
        ["run", "--bogus"],
        ["run", "..", "--", "true"],
        ["run", "a/b", "--", "true"],
        ["run", "", "--", "true"],
        ["run", "-x"],
        ["run", "missing", "--", "true"],
        ["run", "default", "extra"],
      ]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), `${args.join(" ")}: ${r.stderr}`);
      }
      assert.match(sb.cm(["run", "missing", "--", "true"]).stderr, /existing bundles of .*: default/);
    });
  });
}

describe("cm run --memory", () => {
  test("as root: the limit is applied and visible inside; going over it exits 137", () => {
    const sb = sandbox("root");
    assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    const r = sb.cm(["run", "--memory", "64m", "--", "cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), String(64 * 1024 * 1024));
    // A tmpfs file is charged to the container's memory: writing 100 MiB under a 32 MiB limit is an OOM kill.
    const oom = sb.cm([
      "run",
      "--memory",
      "32m",
      "--",
      "sh",
      "-c",
      "dd if=/dev/zero of=/dev/shm/fill bs=1M count=60 2>/dev/null; head -c 100000000 /dev/zero | tail",
    ]);
    assert.equal(oom.status, 137, oom.stderr);
  });

  test("rootless on this cgroup v1 host: refused before starting, saying why", () => {
    const sb = sandbox("rootless");
    assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    const r = sb.cm(["run", "--memory", "512m", "--", "sh", "-c", "echo started"]);
    assert.equal(r.status, 125);
    assert.equal(r.stdout, "");
    assert.ok(isOneLineError(r.stderr), r.stderr);
    assert.match(r.stderr, /cannot be enforced.*cgroup v1/);
  });
});
