import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ANNOTATION, type BundleSpecInput, bundleSpec, runSpec } from "../../../../src/core/runtime-spec/index.ts";
import { DEFAULT_CAPABILITIES } from "../../../../src/core/runtime-spec/transforms.ts";
import { validateOciConfig } from "../../../helpers/oci-schema.ts";

const base: BundleSpecInput = {
  projectName: "my app",
  projectPath: "/home/u/my app",
  bundle: "default",
  hostname: "my-app",
  source: "debian:bookworm",
  created: "2026-11-28T00:00:00.000Z",
  rootless: true,
  uid: 1000,
  gid: 1000,
  resolvConf: true,
  arch: "x64",
};

const matrix: { name: string; input: BundleSpecInput }[] = [
  { name: "rootless", input: base },
  { name: "root", input: { ...base, rootless: false, uid: 0, gid: 0 } },
  { name: "rootless without resolv.conf", input: { ...base, resolvConf: false } },
];

describe("bundleSpec", () => {
  for (const { name, input } of matrix) {
    test(`${name}: valid against the OCI runtime-spec v1.0.2 schema`, () => {
      assert.deepEqual(validateOciConfig(bundleSpec(input)), []);
    });
    for (const memoryBytes of [undefined, 512 * 1024 * 1024]) {
      test(`${name}: per-run config with memory=${memoryBytes} is valid`, () => {
        const spec = runSpec(bundleSpec(input), { rootfsPath: "/data/p/default/rootfs", args: ["sh"], terminal: false, memoryBytes });
        assert.deepEqual(validateOciConfig(spec), []);
      });
    }
  }

  test("project directory bind-mounted read-write at /project, the working directory", () => {
    const spec = bundleSpec(base);
    assert.equal(spec.process.cwd, "/project");
    const m = spec.mounts.find((x) => x.destination === "/project");
    assert.deepEqual(m, { destination: "/project", type: "bind", source: "/home/u/my app", options: ["rbind", "rw"] });
    assert.equal(spec.mounts.filter((x) => x.destination === "/project").length, 1);
  });

  test("rootless: a user namespace mapping container root to the invoking user only", () => {
    const spec = bundleSpec(base);
    assert.ok(spec.linux.namespaces.some((n) => n.type === "user"));
    assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
    assert.deepEqual(spec.linux.gidMappings, [{ containerID: 0, hostID: 1000, size: 1 }]);
    assert.equal(spec.mounts.find((m) => m.destination === "/sys")?.type, "none");
    assert.ok(!spec.mounts.find((m) => m.destination === "/dev/pts")?.options?.includes("gid=5"));
  });

  test("rootless range mode: container root is the user, ids 1..N the subordinate range; the mode is recorded", () => {
    const ids = { uid: 1000, gid: 1000, subuid: { start: 100000, count: 65536 }, subgid: { start: 200000, count: 1000 } };
    const spec = bundleSpec({ ...base, ids });
    assert.deepEqual(spec.linux.uidMappings, [
      { containerID: 0, hostID: 1000, size: 1 },
      { containerID: 1, hostID: 100000, size: 65536 },
    ]);
    assert.deepEqual(spec.linux.gidMappings, [
      { containerID: 0, hostID: 1000, size: 1 },
      { containerID: 1, hostID: 200000, size: 1000 },
    ]);
    assert.equal(spec.annotations["dev.cm.userns"], "range");
    assert.equal(bundleSpec(base).annotations["dev.cm.userns"], "single");
    assert.equal(bundleSpec({ ...base, rootless: false, uid: 0, gid: 0 }).annotations["dev.cm.userns"], undefined);
    // An image's user is kept when the range covers it (a single-id bundle runs it as root).
    const image = { env: [], entrypoint: [], cmd: [], digest: "sha256:0", user: { text: "app", uid: 999, gid: 999 } };
    assert.deepEqual(bundleSpec({ ...base, ids, image }).process.user, { uid: 999, gid: 999 });
    assert.deepEqual(bundleSpec({ ...base, image }).process.user, { uid: 0, gid: 0 });
    assert.deepEqual(bundleSpec({ ...base, ids, image: { ...image, user: { text: "x", uid: 5000, gid: 5000 } } }).process.user, {
      uid: 0,
      gid: 0,
    });
  });

  test("root: no user namespace, devices denied but runc's defaults, a fresh sysfs", () => {
    const spec = bundleSpec({ ...base, rootless: false, uid: 0, gid: 0 });
    assert.ok(!spec.linux.namespaces.some((n) => n.type === "user"));
    assert.equal(spec.linux.uidMappings, undefined);
    assert.deepEqual(spec.linux.resources?.devices, [{ allow: false, access: "rwm" }]);
    assert.equal(spec.mounts.find((m) => m.destination === "/sys")?.type, "sysfs");
  });

  test("the host network is shared (no network namespace); pid, ipc, uts, mount are private", () => {
    const types = bundleSpec(base).linux.namespaces.map((n) => n.type);
    assert.ok(!types.includes("network"));
    for (const t of ["pid", "ipc", "uts", "mount"]) assert.ok(types.includes(t), t);
  });

  test("writable rootfs, hostname, minimal capabilities, nothing inheritable or ambient", () => {
    const spec = bundleSpec(base);
    assert.equal(spec.root.readonly, false);
    assert.equal(spec.root.path, "rootfs");
    assert.equal(spec.hostname, "my-app");
    const caps = spec.process.capabilities;
    assert.deepEqual(caps.bounding, DEFAULT_CAPABILITIES);
    assert.deepEqual(caps.effective, DEFAULT_CAPABILITIES);
    assert.deepEqual(caps.permitted, DEFAULT_CAPABILITIES);
    assert.deepEqual(caps.inheritable, []);
    assert.deepEqual(caps.ambient, []);
    for (const dangerous of ["CAP_SYS_ADMIN", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_MODULE"]) {
      assert.ok(!caps.bounding.includes(dangerous), dangerous);
    }
    assert.equal(spec.process.noNewPrivileges, true);
  });

  test("HOME, PATH and TERM are set; nothing from the host", () => {
    const env = bundleSpec(base).process.env;
    assert.ok(env.includes("HOME=/root"));
    assert.ok(env.some((e) => e.startsWith("PATH=/usr/local/sbin:")));
    assert.ok(env.includes("TERM=xterm"));
  });

  test("annotations remember project, path, bundle and source", () => {
    const a = bundleSpec(base).annotations;
    assert.equal(a[ANNOTATION.projectName], "my app");
    assert.equal(a[ANNOTATION.projectPath], "/home/u/my app");
    assert.equal(a[ANNOTATION.bundle], "default");
    assert.equal(a[ANNOTATION.source], "debian:bookworm");
    assert.equal(a[ANNOTATION.rootless], "true");
  });

  test("resolv.conf is bound read-only only when the host has one", () => {
    assert.ok(bundleSpec(base).mounts.some((m) => m.destination === "/etc/resolv.conf" && m.options?.includes("ro")));
    assert.ok(!bundleSpec({ ...base, resolvConf: false }).mounts.some((m) => m.destination === "/etc/resolv.conf"));
  });
});

describe("runSpec", () => {
  const stored = bundleSpec(base);

  test("sets root.path, args and terminal; leaves the stored spec untouched", () => {
    const before = JSON.stringify(stored);
    const spec = runSpec(stored, { rootfsPath: "/abs/rootfs", args: ["ls", "-l"], terminal: true, term: "screen-256color" });
    assert.equal(spec.root.path, "/abs/rootfs");
    assert.deepEqual(spec.process.args, ["ls", "-l"]);
    assert.equal(spec.process.terminal, true);
    assert.ok(spec.process.env.includes("TERM=screen-256color"));
    assert.equal(spec.process.env.filter((e) => e.startsWith("TERM=")).length, 1);
    assert.equal(JSON.stringify(stored), before);
  });

  test("without a terminal the host TERM is not used", () => {
    const spec = runSpec(stored, { rootfsPath: "/r", args: ["sh"], terminal: false, term: "screen" });
    assert.ok(spec.process.env.includes("TERM=xterm"));
  });

  test("memory: limit and swap equal (going over is an OOM kill, not swapping)", () => {
    const spec = runSpec(stored, { rootfsPath: "/r", args: ["sh"], terminal: false, memoryBytes: 1024 ** 3 });
    assert.deepEqual(spec.linux.resources?.memory, { limit: 1024 ** 3, swap: 1024 ** 3 });
    assert.equal(runSpec(stored, { rootfsPath: "/r", args: ["sh"], terminal: false }).linux.resources, undefined);
  });
});
