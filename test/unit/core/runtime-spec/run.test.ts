import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { runSpec } from "../../../../src/core/runtime-spec/index.ts";
import { storedSpec } from "../../../helpers/runtime-spec.ts";

const stored = (rootless: boolean) => storedSpec(rootless);
const base = { rootfsPath: "/data/p/default/rootfs", args: ["true"], terminal: false };

for (const rootless of [false, true]) {
  describe(`runSpec per-run options (${rootless ? "rootless" : "root"})`, () => {
    test("no options: host network, /project rw, writable rootfs, cwd /project", () => {
      const s = runSpec(stored(rootless), base);
      assert.ok(!s.linux.namespaces.some((n) => n.type === "network"));
      assert.equal(s.root.readonly, false);
      assert.equal(s.process.cwd, "/project");
      assert.deepEqual(s.mounts.find((m) => m.destination === "/project")?.options, ["rbind", "rw"]);
    });
    test("env: over the stored environment, later wins; TERM from a terminal unless given", () => {
      const s = runSpec(stored(rootless), { ...base, env: ["A=1", "HOME=/work", "A=2"] });
      assert.ok(s.process.env.includes("A=2") && !s.process.env.includes("A=1"));
      assert.ok(s.process.env.includes("HOME=/work") && !s.process.env.includes("HOME=/root"));
      assert.ok(s.process.env.some((e) => e.startsWith("PATH=")));
      const t = runSpec(stored(rootless), { ...base, terminal: true, term: "screen" });
      assert.deepEqual(
        t.process.env.filter((e) => e.startsWith("TERM=")),
        ["TERM=screen"],
      );
      const u = runSpec(stored(rootless), { ...base, terminal: true, term: "screen", env: ["TERM=dumb"] });
      assert.deepEqual(
        u.process.env.filter((e) => e.startsWith("TERM=")),
        ["TERM=dumb"],
      );
    });
    test("volumes: bind mounts with ro/rw; /project only changes mode", () => {
      const s = runSpec(stored(rootless), {
        ...base,
        volumes: [
          { source: "/srv/a", destination: "/data", readOnly: true },
          { source: "/home/u/p", destination: "/project", readOnly: true },
        ],
      });
      assert.deepEqual(
        s.mounts.find((m) => m.destination === "/data"),
        { destination: "/data", type: "bind", source: "/srv/a", options: ["rbind", "ro"] },
      );
      const project = s.mounts.filter((m) => m.destination === "/project");
      assert.equal(project.length, 1);
      assert.equal(project[0]?.source, "/home/u/p");
      assert.deepEqual(project[0]?.options, ["rbind", "ro"]);
    });
    test("network none: a network namespace of its own", () => {
      const s = runSpec(stored(rootless), { ...base, network: "none" });
      assert.equal(s.linux.namespaces.filter((n) => n.type === "network").length, 1);
      assert.ok(!runSpec(s, { ...base, network: "host" }).linux.namespaces.some((n) => n.type === "network"));
    });
    test("cpus, pids, read-only, workdir", () => {
      const s = runSpec(stored(rootless), {
        ...base,
        cpu: { quota: 50000, period: 100000 },
        pidsLimit: 64,
        memoryBytes: 1 << 26,
        readOnly: true,
        workdir: "/tmp",
      });
      assert.deepEqual(s.linux.resources?.cpu, { quota: 50000, period: 100000 });
      assert.deepEqual(s.linux.resources?.pids, { limit: 64 });
      assert.equal(s.linux.resources?.memory?.limit, 1 << 26);
      assert.equal(s.root.readonly, true);
      assert.equal(s.process.cwd, "/tmp");
      assert.deepEqual(s.mounts.find((m) => m.destination === "/project")?.options, ["rbind", "rw"]);
    });
    test("runsc: no network or user namespace, no id mappings; runc unchanged", () => {
      const s = runSpec(stored(rootless), { ...base, network: "none", runtime: "runsc" });
      assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ["cgroup", "ipc", "mount", "pid", "uts"]);
      assert.equal(s.linux.uidMappings, undefined);
      assert.equal(s.linux.gidMappings, undefined);
      const r = runSpec(stored(rootless), { ...base, runtime: "runc" });
      assert.equal(
        r.linux.namespaces.some((n) => n.type === "user"),
        rootless,
      );
    });
    test("the stored spec is not changed", () => {
      const st = stored(rootless);
      const before = JSON.stringify(st);
      runSpec(st, {
        ...base,
        env: ["A=1"],
        network: "none",
        readOnly: true,
        volumes: [{ source: "/a", destination: "/b", readOnly: false }],
        runtime: "runsc",
      });
      assert.equal(JSON.stringify(st), before);
    });
  });
}
