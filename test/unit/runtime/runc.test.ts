import assert from "node:assert/strict";
import { test } from "node:test";
import { parseList, runcEnv } from "../../../src/runtime/runc.ts";

test("runc list --format json: null when empty, states otherwise", () => {
  assert.deepEqual(parseList("null\n"), []);
  assert.deepEqual(parseList(""), []);
  const states = parseList('[{"id":"abc","pid":42,"status":"running","bundle":"/b","created":"2026-11-28T00:00:00Z"}]');
  assert.equal(states[0]?.id, "abc");
  assert.equal(states[0]?.status, "running");
});

test("the runtime's environment: PATH and where the user's bus is, nothing else", () => {
  const host = {
    PATH: "/usr/bin",
    HOME: "/home/a",
    LISTEN_FDS: "3",
    XDG_RUNTIME_DIR: "/run/user/1000",
    DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
  };
  assert.deepEqual(runcEnv(host, 1000), {
    PATH: "/usr/bin",
    XDG_RUNTIME_DIR: "/run/user/1000",
    DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
  });
  assert.deepEqual(runcEnv({ PATH: "/usr/bin" }, 1000), { PATH: "/usr/bin", XDG_RUNTIME_DIR: "/run/user/1000" }, "systemd's default");
  assert.deepEqual(runcEnv({ PATH: "/usr/bin" }, 0), { PATH: "/usr/bin" });
});
