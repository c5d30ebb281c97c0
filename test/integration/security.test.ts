/**
 * The sandbox, read from inside the container, as root and rootless: seccomp, no_new_privs,
 * capabilities, masked and read-only paths, cgroups, /dev, file descriptors and environment.
 * Each test here is named in SECURITY.md next to the guarantee it proves.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { MASKED_PATHS } from "../../src/core/runtime-spec/hardening.ts";
import { DEFAULT_CAPABILITIES } from "../../src/core/runtime-spec/transforms.ts";
import { finished, fixtures, isOneLineError, sandbox, spawnUntilReady, USERS } from "../helpers/cm.ts";

/** Capability numbers (linux/capability.h) for the names cm grants. */
const CAP_NUMBERS: Record<string, number> = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_KILL: 5,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_SETPCAP: 8,
  CAP_NET_BIND_SERVICE: 10,
  CAP_SYS_CHROOT: 18,
  CAP_SETFCAP: 31,
};

function capMask(names: string[]): string {
  let mask = 0n;
  for (const n of names) {
    const bit = CAP_NUMBERS[n];
    assert.ok(bit !== undefined, `unknown capability ${n} in the test table`);
    mask |= 1n << BigInt(bit);
  }
  return mask.toString(16).padStart(16, "0");
}

/** x86_64 system call numbers: [name, number, args...]. */
const X64_CALLS: [string, number, ...number[]][] = [
  ["add_key", 248, 0, 0, 0, 0, 0],
  ["keyctl", 250, 0, -3, 0],
  ["request_key", 249, 0, 0, 0, 0],
  ["bpf", 321, 0, 0, 0],
  ["perf_event_open", 298, 0, 0, -1, -1, 0],
  ["userfaultfd", 323, 0],
  ["io_uring_setup", 425, 0, 0],
  ["init_module", 175, 0, 0, 0],
  ["finit_module", 313, -1, 0, 0],
  ["delete_module", 176, 0, 0],
  ["kexec_load", 246, 0, 0, 0, 0],
  ["kexec_file_load", 320, -1, -1, 0, 0, 0],
  ["open_by_handle_at", 304, -1, 0, 0],
  ["name_to_handle_at", 303, -1, 0, 0, 0, 0],
  ["settimeofday", 164, 0, 0],
  ["clock_settime", 227, 0, 0],
  ["clock_adjtime", 305, 0, 0],
  ["adjtimex", 159, 0],
  ["setns", 308, -1, 0],
  ["unshare(CLONE_NEWNS)", 272, 0x20000],
  ["unshare(CLONE_NEWUSER)", 272, 0x10000000],
  ["mount", 165, 0, 0, 0, 0, 0],
  ["umount2", 166, 0, 0],
  ["pivot_root", 155, 0, 0],
  ["swapon", 167, 0, 0],
  ["swapoff", 168, 0],
  ["reboot", 169, 0, 0, 0, 0],
  ["acct", 163, 0],
  ["quotactl", 179, 0, 0, 0, 0],
  ["iopl", 172, 3],
  ["ioperm", 173, 0, 1, 1],
  ["syslog", 103, 3, 0, 0],
  ["fsopen", 430, 0, 0],
  ["open_tree", 428, -1, 0, 0],
  ["personality(ADDR_NO_RANDOMIZE)", 135, 0x0040000],
];

/**
 * A perl script printing "name errno" per call (0 when it succeeded). clone with CLONE_NEWUSER:
 * a child that got through exits at once.
 */
function syscallScript(calls: [string, number, ...number[]][]): string {
  const lines = calls.map(([name, nr, ...args]) => `t(${JSON.stringify(name)}, ${[nr, ...args].join(", ")});`);
  return `use strict;
sub t { my ($name, @a) = @_; $! = 0; my $r = syscall($a[0], @a[1 .. $#a]); print "$name ", ($r == -1 ? $!+0 : 0), "\\n"; }
${lines.join("\n")}
$! = 0; my $c = syscall(56, 0x10000000 | 17, 0, 0, 0, 0); if ($c == 0) { syscall(60, 0); } print "clone(CLONE_NEWUSER) ", ($c == -1 ? $!+0 : 0), "\\n";
$! = 0; my $c3 = syscall(435, 0, 0); print "clone3 ", ($c3 == -1 ? $!+0 : 0), "\\n";
$! = 0; my $p = syscall(135, 0xffffffff); print "personality(query) ", ($p == -1 ? $!+0 : 0), "\\n";
`;
}

function parseResults(out: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const line of out.trim().split("\n")) {
    const at = line.lastIndexOf(" ");
    r[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return r;
}

function status(text: string, field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, "m").exec(text);
  assert.ok(m, `${field} missing from /proc/self/status`);
  return (m[1] as string).trim();
}

for (const as of USERS) {
  describe(`sandbox (${as})`, () => {
    const sb = sandbox(as, "sec");
    test("setup: a busybox bundle and a Debian bundle", () => {
      let r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
      r = sb.cm(["create", "deb", "--from", `tar:${fixtures.debianTar}`, "-q"]);
      assert.equal(r.status, 0, r.stderr);
    });

    test("seccomp filter on, no_new_privs set, capabilities = cm's set, inheritable and ambient empty", () => {
      const r = sb.cm(["run", "--", "cat", "/proc/self/status"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(status(r.stdout, "Seccomp"), "2");
      assert.equal(status(r.stdout, "NoNewPrivs"), "1");
      const caps = capMask(DEFAULT_CAPABILITIES);
      assert.equal(status(r.stdout, "CapPrm"), caps);
      assert.equal(status(r.stdout, "CapEff"), caps);
      assert.equal(status(r.stdout, "CapBnd"), caps);
      assert.equal(status(r.stdout, "CapInh"), "0000000000000000");
      assert.equal(status(r.stdout, "CapAmb"), "0000000000000000");
    });

    test("seccomp: the denied system calls fail with EPERM, clone3 with ENOSYS, personality queries work", () => {
      assert.equal(process.arch, "x64", "the syscall numbers in this test are x86_64's");
      writeFileSync(join(sb.project, "sys.pl"), syscallScript(X64_CALLS));
      const r = sb.cm(["run", "deb", "--", "perl", "/project/sys.pl"]);
      assert.equal(r.status, 0, r.stderr);
      const got = parseResults(r.stdout);
      const expected: Record<string, number> = {};
      for (const [name] of X64_CALLS) expected[name] = 1;
      expected["clone(CLONE_NEWUSER)"] = 1;
      expected.clone3 = 38;
      expected["personality(query)"] = 0;
      assert.deepEqual(got, expected);
    });

    test("--security-opt seccomp=unconfined: no filter, and the calls reach the kernel", () => {
      writeFileSync(join(sb.project, "sys2.pl"), syscallScript([["keyctl", 250, 0, -3, 0]]));
      const r = sb.cm([
        "run",
        "deb",
        "--security-opt",
        "seccomp=unconfined",
        "--",
        "sh",
        "-c",
        "grep ^Seccomp: /proc/self/status; perl /project/sys2.pl",
      ]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^Seccomp:\s+0$/m);
      const got = parseResults(r.stdout.split("\n").slice(1).join("\n"));
      assert.notEqual(got.keyctl, 1, "keyctl reached the kernel");
      assert.equal(got.clone3, 22, "clone3 with a zero size is EINVAL from the kernel");
    });

    test("--security-opt seccomp=FILE: that profile applies; a malformed one is refused with one line", () => {
      const profile = join(sb.dir, "profile.json");
      writeFileSync(
        profile,
        JSON.stringify({
          defaultAction: "SCMP_ACT_ALLOW",
          syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1 }],
        }),
      );
      const r = sb.cm(["run", "--security-opt", `seccomp=${profile}`, "--", "sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /tmp/d"]);
      assert.equal(r.status, 1);
      assert.match(r.stdout, /^Seccomp:\s+2$/m);
      assert.match(r.stderr, /Operation not permitted/);
      for (const [content, message] of [
        ["{", /not valid JSON/],
        ['{"defaultAction": "SCMP_ACT_NOPE"}', /defaultAction must be one of/],
        ['{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"]}]}', /syscalls\[0\]\.action/],
        ['{"defaultAction": "SCMP_ACT_ERRNO", "archMap": []}', /Docker-format/],
      ] as const) {
        writeFileSync(profile, content);
        const bad = sb.cm(["run", "--security-opt", `seccomp=${profile}`, "--", "true"]);
        assert.equal(bad.status, 125, content);
        assert.ok(isOneLineError(bad.stderr), bad.stderr);
        assert.match(bad.stderr, message);
      }
      for (const opt of ["seccomp=/no/such/file.json", "seccomp=", "apparmor=unconfined"]) {
        const bad = sb.cm(["run", "--security-opt", opt, "--", "true"]);
        assert.equal(bad.status, 125, opt);
        assert.ok(isOneLineError(bad.stderr), bad.stderr);
      }
    });

    test("masked paths are empty inside; /proc/sys and /proc/sysrq-trigger are read-only", () => {
      const present = MASKED_PATHS.filter((p) => existsSync(p));
      assert.ok(present.includes("/proc/keys") && present.includes("/sys/firmware"), `host lacks the usual paths: ${present}`);
      const script = present.map((p) =>
        statSync(p).isDirectory() ? `echo "${p} $(ls -A ${p} | wc -l)"` : `echo "${p} $(cat ${p} | wc -c)"`,
      );
      const r = sb.cm(["run", "--", "sh", "-c", script.join("; ")]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(
        r.stdout.trim().split("\n"),
        present.map((p) => `${p} 0`),
      );
      const writes = ["echo 1 > /proc/sys/vm/drop_caches", "echo x > /proc/sys/kernel/hostname"];
      if (existsSync("/proc/sysrq-trigger")) writes.push("echo h > /proc/sysrq-trigger");
      for (const cmd of writes) {
        const w = sb.cm(["run", "--", "sh", "-c", cmd]);
        assert.notEqual(w.status, 0, cmd);
        assert.match(w.stderr, /Read-only file system/, cmd);
      }
    });

    test("/sys/fs/cgroup is read-only and the cgroup namespace is private", () => {
      const r = sb.cm(["run", "--", "sh", "-c", "cat /proc/self/cgroup; mkdir /sys/fs/cgroup/memory/escape && echo made"]);
      assert.notEqual(r.status, 0);
      assert.doesNotMatch(r.stdout, /made/);
      assert.match(r.stderr, /Read-only file system/);
      const lines = r.stdout.trim().split("\n");
      assert.ok(lines.length > 0);
      for (const line of lines) assert.match(line, /:\/$/, `cgroup path not private: ${line}`);
    });

    test("only the standard /dev nodes; mknod of block and character devices fails", () => {
      const r = sb.cm(["run", "--", "sh", "-c", "ls -A /dev | sort | tr '\\n' ' '"]);
      assert.equal(r.status, 0, r.stderr);
      const nodes = r.stdout.trim().split(" ");
      const allowed = new Set([
        "console",
        "core",
        "fd",
        "full",
        "mqueue",
        "null",
        "ptmx",
        "pts",
        "random",
        "shm",
        "stderr",
        "stdin",
        "stdout",
        "tty",
        "urandom",
        "zero",
        "init", // the container's init (tini): a read-only regular file, no device
      ]);
      for (const n of nodes) assert.ok(allowed.has(n), `unexpected /dev/${n}`);
      const init = sb.cm(["run", "--", "sh", "-c", "test -f /dev/init && grep -qE '^[^ ]+ /dev/init [^ ]+ ro[, ]' /proc/mounts"]);
      assert.equal(init.status, 0, "/dev/init is a read-only regular file");
      for (const must of ["null", "zero", "full", "random", "urandom", "tty", "ptmx"])
        assert.ok(nodes.includes(must), `/dev/${must} missing`);
      for (const dev of ["b 8 0", "c 1 1", "c 10 237"]) {
        const m = sb.cm(["run", "--", "mknod", "/tmp/node", ...dev.split(" ")]);
        assert.notEqual(m.status, 0, dev);
        assert.match(m.stderr, /Operation not permitted/, dev);
      }
    });

    test("the container sees only fds 0-2, also when cm inherits more", async () => {
      // sleep inherits exactly the fds the container's first process has (ls would show its own).
      // (once it runs sleep: before its exec the forked shell is still setting up its stdin)
      const script = 'sleep 30 & p=$!; while [ "$(cat /proc/$p/comm)" != sleep ]; do :; done; ls /proc/$p/fd; kill $p';
      for (const extraFds of [0, 3]) {
        const child = sb.spawn(["run", "--", "sh", "-c", script], { extraFds });
        child.stdin?.end();
        const r = await finished(child);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n").sort(), ["0", "1", "2"], `with ${extraFds} extra fds`);
      }
    });

    test("only the environment cm sets: no SSH_AUTH_SOCK, LISTEN_FDS or tokens from the host", () => {
      const r = sb.cm(["run", "--", "env"], {
        env: {
          SSH_AUTH_SOCK: "/tmp/agent.sock",
          LISTEN_FDS: "1",
          LISTEN_PID: "1",
          GITHUB_TOKEN: "secret",
          AWS_SECRET_ACCESS_KEY: "secret",
        },
      });
      assert.equal(r.status, 0, r.stderr);
      const names = r.stdout
        .trim()
        .split("\n")
        .map((l) => l.slice(0, l.indexOf("=")))
        .sort();
      assert.deepEqual(names, ["HOME", "PATH", "TERM", "container"]);
    });

    test("SIGHUP reaches the container's process", async () => {
      const { child, done } = await spawnUntilReady(
        sb,
        ["run", "--", "sh", "-c", "trap 'exit 129' HUP; echo ready; while :; do sleep 0.1; done"],
        "the container to start",
      );
      child.kill("SIGHUP");
      const r = await done;
      assert.equal(r.status, 129, r.stderr);
      assert.deepEqual(readdirSync(join(sb.env.CM_STATE_DIR as string, "runs")), []);
    });
  });
}
