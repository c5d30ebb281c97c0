import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { runcEnv, shellStatus, waitProcess } from "../../../src/runtime/oci-runtime.ts";

describe("shellStatus", () => {
  test("an exit code is the status", () => {
    assert.equal(shellStatus(0, null), 0);
    assert.equal(shellStatus(3, null), 3);
  });
  test("any signal N is 128+N (not only KILL and TERM)", () => {
    assert.equal(shellStatus(null, "SIGKILL"), 137);
    assert.equal(shellStatus(null, "SIGTERM"), 143);
    assert.equal(shellStatus(null, "SIGHUP"), 129);
    assert.equal(shellStatus(null, "SIGUSR1"), 138);
    assert.equal(shellStatus(null, "SIGSEGV"), 139);
  });
});

describe("waitProcess (real processes)", () => {
  test("exit code, and started from the pid file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cm-wait-"));
    try {
      const pidFile = join(dir, "pid");
      const child = spawn("/bin/sh", ["-c", `echo $$ > ${pidFile}; exit 7`], { stdio: "ignore" });
      assert.deepEqual(await waitProcess(child, { pidFile }), { exitCode: 7, signal: null, status: 7, started: true });
      writeFileSync(join(dir, "other"), "");
      const never = spawn("/bin/sh", ["-c", "exit 1"], { stdio: "ignore" });
      assert.equal((await waitProcess(never, { pidFile: join(dir, "absent") })).started, false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  test("a process ended by a signal other than KILL/TERM: 128+N", async () => {
    const child = spawn("/bin/sh", ["-c", "kill -USR1 $$"], { stdio: "ignore" });
    assert.deepEqual(await waitProcess(child, {}), { exitCode: null, signal: "SIGUSR1", status: 138, started: false });
  });
  test("a runtime that cannot be spawned: 125", async () => {
    const child = spawn("/nonexistent/runtime", [], { stdio: "ignore" });
    assert.equal((await waitProcess(child, {})).status, 125);
  });
  test("forwarded signals reach the callback while the process runs, and are released after", async () => {
    const seen: string[] = [];
    const child = spawn("/bin/sh", ["-c", "sleep 0.3"], { stdio: "ignore" });
    const before = process.listenerCount("SIGHUP");
    const done = waitProcess(child, { signals: ["SIGHUP"], forward: (s) => seen.push(s) });
    process.kill(process.pid, "SIGHUP");
    await done;
    assert.deepEqual(seen, ["SIGHUP"]);
    assert.equal(process.listenerCount("SIGHUP"), before);
  });
});

test("the runtime's environment: PATH, where the user's bus is, Go's async preemption off; nothing else", () => {
  const host = {
    PATH: "/usr/bin",
    HOME: "/home/a",
    LISTEN_FDS: "3",
    GODEBUG: "madvdontneed=0",
    XDG_RUNTIME_DIR: "/run/user/1000",
    DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
  };
  assert.deepEqual(runcEnv(host, 1000), {
    PATH: "/usr/bin",
    XDG_RUNTIME_DIR: "/run/user/1000",
    DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
    GODEBUG: "asyncpreemptoff=1",
  });
  const off = { GODEBUG: "asyncpreemptoff=1" };
  assert.deepEqual(
    runcEnv({ PATH: "/usr/bin" }, 1000),
    { PATH: "/usr/bin", XDG_RUNTIME_DIR: "/run/user/1000", ...off },
    "systemd's default",
  );
  assert.deepEqual(runcEnv({ PATH: "/usr/bin" }, 0), { PATH: "/usr/bin", ...off });
});
