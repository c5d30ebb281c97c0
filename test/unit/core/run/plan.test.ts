import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RunOptions } from "../../../../src/core/run/options.ts";
import { planRun, type RunFacts } from "../../../../src/core/run/plan.ts";
import { runSpec } from "../../../../src/core/spec/index.ts";
import type { CmError } from "../../../../src/errors.ts";
import { storedSpec } from "../../../helpers/spec.ts";

function facts(over: Partial<RunFacts> = {}): RunFacts {
  const spec = storedSpec(false, { uid: 0, resolvConf: false });
  return {
    rootless: false,
    cpuCount: 2,
    cgroups: () => ({ version: "v2", delegated: ["memory", "cpu", "pids"] }),
    id: "abc123",
    dir: "/state/runs/abc123",
    project: { key: "p-1", name: "p", path: "/home/u/p" },
    bundle: { name: "default", dir: "/data/p-1/default", spec },
    rootfs: "/data/p-1/default/rootfs",
    runtime: { binary: "/usr/bin/runc", root: "/state/runc" },
    env: [],
    volumes: [],
    defaultShell: () => ["/bin/sh", "-l"],
    seccomp: undefined,
    stdinTty: false,
    term: "xterm-256color",
    ...over,
  };
}
const opts = (o: Partial<RunOptions> = {}): RunOptions => ({ bundle: "default", command: ["true"], ...o });

describe("planRun", () => {
  test("the plain run: command checked at /project on the stored PATH, record fields, runc without flags", () => {
    const p = planRun(opts(), facts());
    assert.deepEqual(p.command.args, ["true"]);
    assert.equal(p.command.cwd, "/project");
    assert.match(p.command.path, /\/usr\/bin/);
    assert.deepEqual(p.command.mounts, [{ destination: "/project", source: "/home/u/p" }]);
    assert.deepEqual(p.record, { projectKey: "p-1", projectName: "p", bundle: "default", projectPath: "/home/u/p", command: ["true"] });
    assert.deepEqual(p.runtime, { binary: "/usr/bin/runc", root: "/state/runc", kind: "runc", flags: [] });
    assert.deepEqual(p.files, []);
    assert.equal(p.detach, false);
  });
  test("no command and no image default: the default shell", () => {
    assert.deepEqual(planRun(opts({ command: [] }), facts()).spec.args, ["/bin/sh", "-l"]);
  });
  test("-e values reach the spec, and the PATH the command is looked up on", () => {
    const p = planRun(opts(), facts({ env: ["PATH=/opt/bin", "A=1"] }));
    assert.equal(p.command.path, "/opt/bin");
    const spec = runSpec(facts().bundle.spec, p.spec);
    assert.ok(spec.process.env.includes("A=1"));
  });
  test("--detach: no terminal, recorded as detached; with --tty refused", () => {
    const p = planRun(opts({ detach: true }), facts({ stdinTty: true }));
    assert.equal(p.terminal, false);
    assert.equal(p.record.detached, true);
    assert.throws(
      () => planRun(opts({ detach: true, tty: true }), facts()),
      (e: CmError) => e.code === "usage",
    );
  });
  test("limits: too little memory refused (6MiB), a limit the host cannot enforce refused", () => {
    assert.throws(() => planRun(opts({ memoryBytes: 1024 * 1024 }), facts()), /too small: a container needs at least 6MiB/);
    const noDelegation = () => ({ version: "v2" as const, delegated: [] });
    assert.throws(
      () => planRun(opts({ pidsLimit: 10 }), facts({ rootless: true, cgroups: noDelegation })),
      (e: CmError) => e.code === "limit-unsupported",
    );
  });
  test("cgroup facts are read only when a limit or the runtime needs them", () => {
    let reads = 0;
    const cgroups = () => {
      reads++;
      return { version: "v2" as const, delegated: [] };
    };
    planRun(opts(), facts({ cgroups }));
    assert.equal(reads, 0);
    assert.throws(() => planRun(opts({ memoryBytes: 64 * 1024 * 1024 }), facts({ rootless: true, cgroups })), /memory controller/);
    assert.equal(reads, 1);
  });
  test("runsc: its global flags, and --pids-limit refused", () => {
    const p = planRun(opts({ network: "none" }), facts({ runtime: { binary: "/usr/bin/runsc", root: "/state/runsc" } }));
    assert.deepEqual(p.runtime.flags, ["--network=none"]);
    assert.throws(() => planRun(opts({ pidsLimit: 10 }), facts({ runtime: { binary: "/usr/bin/runsc", root: "/s" } })), /runsc/);
  });
  test("runsc rootless refuses a range-mode bundle (its files belong to subordinate ids); single-id and root bundles run", () => {
    const runsc = { binary: "/usr/bin/runsc", root: "/s" };
    const spec = storedSpec(true, { uid: 1000, resolvConf: false });
    const range = { ...spec, annotations: { ...spec.annotations, "dev.cm.userns": "range" } };
    const bundle = (s: typeof spec) => ({ name: "default", dir: "/d", spec: s });
    assert.throws(
      () => planRun(opts(), facts({ rootless: true, runtime: runsc, bundle: bundle(range) })),
      (e: CmError) => e.code === "runtime-unsupported" && /--userns single/.test(e.hint ?? ""),
    );
    assert.equal(planRun(opts(), facts({ rootless: true, runtime: runsc, bundle: bundle(spec) })).runtime.kind, "runsc");
    assert.equal(planRun(opts(), facts({ rootless: true, bundle: bundle(range) })).runtime.kind, "runc");
  });
});
