/** The pure parts of issue 13: init, start failures, /etc/hosts, ulimits and shm, OOM parsing. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { etcMounts, hostnameFile, hostsFile } from "../../../../src/core/run/hosts.ts";
import { INIT_ARGS, INIT_PATH, withInit, withoutInit } from "../../../../src/core/run/init.ts";
import { oomFromSlice, oomKillsV1, oomKillsV2, oomMessage, parseMemoryLimit } from "../../../../src/core/run/oom.ts";
import {
  argvTooLong,
  classifyHeader,
  MAX_ARG_STRLEN,
  runtimeCause,
  runtimeLogMessages,
  shortRuntimeMessage,
  startFailureFromRuntime,
  transientRuntimeFailure,
} from "../../../../src/core/run/startup.ts";
import {
  parseProcLimits,
  parseShmSize,
  parseUlimit,
  parseUlimits,
  resolveUlimits,
  shmSize,
  stackSoft,
  UNLIMITED,
} from "../../../../src/core/run/ulimit.ts";
import { baseSpec } from "../../../../src/core/runtime-spec/base.ts";
import { formatBytes, parseSize } from "../../../../src/core/size.ts";
import { CmError } from "../../../../src/errors.ts";

const cmError = (code: string) => (e: unknown) =>
  e instanceof CmError && e.code === code && e.exitCode === 125 && !e.message.includes("\n");

describe("init", () => {
  test("runs the args under tini, mounted read-only below /dev", () => {
    const spec = withInit("/usr/bin/tini-static")({ ...baseSpec(false), process: { ...baseSpec(false).process, args: ["sleep", "60"] } });
    assert.deepEqual(spec.process.args, [...INIT_ARGS, "sleep", "60"]);
    const m = spec.mounts.find((x) => x.destination === INIT_PATH);
    assert.equal(m?.source, "/usr/bin/tini-static");
    assert.ok(m?.options?.includes("ro"));
    assert.deepEqual(withoutInit(spec.process.args), ["sleep", "60"]);
    assert.deepEqual(withoutInit(["sleep", "--", "x"]), ["sleep", "--", "x"]);
  });
});

describe("start failures", () => {
  test("a #! line names its interpreter", () => {
    assert.deepEqual(classifyHeader(Buffer.from("#!/usr/bin/python3 -u\nprint(1)\n")), { kind: "script", interpreter: "/usr/bin/python3" });
    assert.deepEqual(classifyHeader(Buffer.from("#! \t/bin/sh\n")), { kind: "script", interpreter: "/bin/sh" });
    assert.deepEqual(classifyHeader(Buffer.from("#!\n")), { kind: "unknown" });
    assert.deepEqual(classifyHeader(Buffer.from("garbage\n")), { kind: "unknown" });
    assert.deepEqual(classifyHeader(Buffer.alloc(0)), { kind: "unknown" });
  });
  test("an ELF file: its machine and PT_INTERP, read from the real node binary", () => {
    const bin = readFileSync(process.execPath);
    const h = classifyHeader(bin.subarray(0, 256), (o, n) => bin.subarray(o, o + n));
    assert.equal(h.kind, "elf");
    if (h.kind === "elf") {
      assert.equal(h.machine, process.arch === "x64" ? 62 : h.machine);
      assert.match(h.interpreter ?? "", /^\/lib.*ld-linux.*\.so\.\d$/);
    }
    // a static binary has no interpreter
    const head = Buffer.from(bin.subarray(0, 256));
    assert.equal(classifyHeader(head).kind, "elf");
  });
  test("argv and environment against the kernel's limits", () => {
    assert.equal(argvTooLong(["sh", "-c", "true"], ["PATH=/bin"], 8 * 1024 * 1024), undefined);
    assert.match(argvTooLong(["echo", "x".repeat(MAX_ARG_STRLEN)], [], 8 * 1024 * 1024) ?? "", /one argument is 131073 bytes/);
    assert.match(argvTooLong(["echo"], [`A=${"x".repeat(MAX_ARG_STRLEN)}`], 8 * 1024 * 1024) ?? "", /environment variable/);
    const many = Array.from({ length: 40 }, () => "y".repeat(100_000));
    assert.match(argvTooLong(["echo", ...many], [], 8 * 1024 * 1024) ?? "", /over the kernel's 2097152/);
    assert.equal(argvTooLong(["echo", ...many], [], UNLIMITED), undefined); // 3/4 of 8 MiB then
  });
  test("runc's messages become 127 / 126 with the cause", () => {
    const log =
      '{"level":"warning","msg":"something","time":"x"}\n{"level":"error","msg":"runc run failed: unable to start container process: exec: \\"/dird\\": permission denied","time":"x"}\n';
    const msgs = runtimeLogMessages(log);
    assert.deepEqual(msgs, ['runc run failed: unable to start container process: exec: "/dird": permission denied']);
    assert.deepEqual(startFailureFromRuntime(msgs), { status: 126, reason: "/dird: permission denied" });
    assert.equal(
      startFailureFromRuntime(['runc run failed: unable to start container process: exec: "/nope": stat /nope: no such file or directory'])
        ?.status,
      127,
    );
    assert.equal(startFailureFromRuntime(["exec /notbin: exec format error"])?.status, 126);
    assert.equal(startFailureFromRuntime(["exec /bin/sh: argument list too long"])?.status, 126);
    assert.equal(startFailureFromRuntime(['exec: "ls": executable file not found in $PATH'])?.status, 127);
    assert.equal(startFailureFromRuntime(["runc run failed: cgroup: something else"]), undefined);
    assert.equal(
      shortRuntimeMessage("runc run failed: unable to start container process: error during container init: x"),
      "error during container init: x",
    );
  });
  test("runc's nsexec failure: its own line is the cause; the sealing EBUSY of its self-copy passes", () => {
    const log = [
      '{"level":"fatal","msg":"nsexec[14795]: could not ensure we are a cloned binary: Device or resource busy","time":"x"}',
      '{"error":"no directory specified for memory.oom_control","level":"warning","msg":"unable to get oom kill count","time":"x"}',
      '{"level":"error","msg":"runc run failed: unable to start container process: waiting for init preliminary setup: read init-p: connection reset by peer","time":"x"}',
    ].join("\n");
    const msgs = runtimeLogMessages(log);
    assert.equal(runtimeCause(msgs), "nsexec: could not ensure we are a cloned binary: Device or resource busy");
    assert.equal(transientRuntimeFailure(msgs), "nsexec: could not ensure we are a cloned binary: Device or resource busy");
    assert.equal(
      runtimeCause(["runc run failed: unable to start container process: error during container init: x"]),
      "error during container init: x",
    );
    assert.equal(runtimeCause([]), undefined);
    // the same step failing otherwise stays a failure
    assert.equal(transientRuntimeFailure(["nsexec[1]: could not ensure we are a cloned binary: Cannot allocate memory"]), undefined);
    assert.equal(
      transientRuntimeFailure(["runc run failed: unable to start container process: waiting for init preliminary setup: EOF"]),
      undefined,
    );
    // runc 1.2 words it in Go
    assert.ok(transientRuntimeFailure(["runc run failed: ... fcntl(F_ADD_SEALS): device or resource busy"]));
  });
});

describe("/etc/hosts and /etc/hostname", () => {
  test("loopback names, the hostname, and the bundle's own lines", () => {
    const text = hostsFile(
      "myproj",
      "127.0.0.1 localhost\n::1 localhost ip6-localhost\n10.0.0.5 db db.local # mine\n# a comment\n127.0.1.1 myproj\n",
    );
    const lines = text.trim().split("\n");
    assert.ok(lines.includes("127.0.0.1\tlocalhost"));
    assert.ok(lines.includes("::1\tlocalhost ip6-localhost ip6-loopback"));
    assert.ok(lines.includes("127.0.1.1\tmyproj"));
    assert.ok(lines.includes("10.0.0.5 db db.local # mine"));
    assert.equal(lines.filter((l) => /\blocalhost\b/.test(l) && l.startsWith("127.0.0.1")).length, 1);
    assert.equal(hostsFile("p", hostsFile("p")), hostsFile("p")); // idempotent
    assert.equal(hostnameFile("p"), "p\n");
  });
  test("bind-mounted read-only", () => {
    const mounts = etcMounts({ hosts: "/r/hosts", hostname: "/r/hostname" });
    for (const d of ["/etc/hosts", "/etc/hostname"]) {
      const m = mounts.find((x) => x.destination === d);
      assert.ok(m?.options?.includes("ro"), d);
    }
  });
});

const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max stack size            8388608              unlimited            bytes
Max core file size        0                    unlimited            bytes
Max processes             95586                95586                processes
Max open files            1024                 1048576              files
Max nice priority         0                    0
`;

describe("ulimits", () => {
  test("--ulimit NAME=SOFT[:HARD]", () => {
    assert.deepEqual(parseUlimit("nofile=4096:8192"), ["nofile", { soft: 4096, hard: 8192 }]);
    assert.deepEqual(parseUlimit("core=0"), ["core", { soft: 0, hard: 0 }]);
    assert.deepEqual(parseUlimit("stack=unlimited"), ["stack", { soft: UNLIMITED, hard: UNLIMITED }]);
    assert.deepEqual(parseUlimit("memlock=-1:-1"), ["memlock", { soft: UNLIMITED, hard: UNLIMITED }]);
    assert.deepEqual(parseUlimits(["nofile=1", "nofile=2"]).nofile, { soft: 2, hard: 2 });
    for (const bad of [
      "nofile=abc",
      "nofile",
      "nofile=",
      "files=10",
      "nofile=10:5",
      "nofile=1:2:3",
      "nofile=-5",
      "nofile=1e3",
      "__proto__=1",
    ]) {
      assert.throws(() => parseUlimit(bad), cmError("bad-ulimit"), bad);
    }
  });
  test("/proc/PID/limits", () => {
    const l = parseProcLimits(PROC_LIMITS);
    assert.deepEqual(l.nofile, { soft: 1024, hard: 1048576 });
    assert.deepEqual(l.stack, { soft: 8388608, hard: UNLIMITED });
    assert.deepEqual(l.cpu, { soft: UNLIMITED, hard: UNLIMITED });
    assert.deepEqual(l.nice, { soft: 0, hard: 0 });
    assert.deepEqual(parseProcLimits(readFileSync("/proc/self/limits", "utf8")).nofile !== undefined, true);
  });
  test("defaults are the invoker's, capped at cm's own; asked values over the hard limit are refused", () => {
    const own = parseProcLimits(PROC_LIMITS);
    const invoker = { ...own, nofile: { soft: 512, hard: 2_000_000 } };
    const r = resolveUlimits({}, { own, invoker, privileged: false });
    assert.deepEqual(
      r.find((x) => x.type === "RLIMIT_NOFILE"),
      { type: "RLIMIT_NOFILE", soft: 512, hard: 1048576 },
    );
    assert.equal(stackSoft(r), 8388608);
    assert.throws(
      () => resolveUlimits({ nofile: { soft: 10, hard: 2_000_000 } }, { own, privileged: false }),
      (e: unknown) => e instanceof CmError && /nofile/.test(e.message) && /1048576/.test(e.message),
    );
    assert.deepEqual(
      resolveUlimits({ nofile: { soft: 10, hard: 2_000_000 } }, { own, privileged: true, nrOpen: 4_000_000 }).find(
        (x) => x.type === "RLIMIT_NOFILE",
      ),
      { type: "RLIMIT_NOFILE", soft: 10, hard: 2_000_000 },
    );
    assert.throws(
      () => resolveUlimits({ nofile: { soft: 10, hard: 5_000_000 } }, { own, privileged: true, nrOpen: 4_000_000 }),
      cmError("ulimit-too-high"),
    );
  });
  test("--shm-size", () => {
    assert.equal(parseShmSize("1g"), 1024 ** 3);
    for (const bad of ["-1", "0", "abc", ""]) assert.throws(() => parseShmSize(bad), cmError("bad-size"), bad);
    const spec = shmSize(parseSize("256m"))(baseSpec(false));
    assert.ok(spec.mounts.find((m) => m.destination === "/dev/shm")?.options?.includes("size=262144k"));
    assert.equal(spec.mounts.find((m) => m.destination === "/dev/shm")?.options?.filter((o) => o.startsWith("size=")).length, 1);
  });
});

describe("OOM", () => {
  test("cgroup v1 memory.oom_control and v2 memory.events", () => {
    assert.equal(oomKillsV1("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"), 2);
    assert.equal(oomKillsV1("oom_kill_disable 0\nunder_oom 0\n"), undefined);
    assert.equal(oomKillsV2("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n"), 1);
    assert.equal(parseMemoryLimit("33554432\n"), 33554432);
    assert.equal(parseMemoryLimit("max\n"), undefined);
    assert.equal(parseMemoryLimit("9223372036854771712\n"), undefined);
    assert.equal(oomMessage({ kills: 1, limitBytes: 32 * 1024 * 1024 }, formatBytes), "killed: out of memory (limit 32 MiB)");
    assert.equal(oomMessage({ kills: 1 }, formatBytes), "killed: out of memory");
  });
});

test("an OOM kill read from the scope's slice: the count grew and the container died of SIGKILL", () => {
  assert.deepEqual(oomFromSlice(3, 4, 137, 32 * 2 ** 20), { kills: 1, limitBytes: 32 * 2 ** 20 });
  assert.equal(oomFromSlice(3, 3, 137, 1), undefined, "no new kill");
  assert.equal(oomFromSlice(3, 4, 0, 1), undefined, "another container's kill, this one exited");
  assert.equal(oomFromSlice(undefined, 4, 137, 1), undefined, "slice unreadable before");
  assert.equal(oomFromSlice(3, undefined, 137, 1), undefined);
});
