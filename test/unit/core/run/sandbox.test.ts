import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RunOptions } from "../../../../src/core/run/options.ts";
import { planRun, type RunFacts } from "../../../../src/core/run/plan.ts";
import { ephemeralPaths, planSandbox, type SandboxFacts } from "../../../../src/core/run/sandbox.ts";
import { runSpec } from "../../../../src/core/runtime-spec/index.ts";
import { CmError } from "../../../../src/errors.ts";
import { storedSpec } from "../../../helpers/runtime-spec.ts";

const facts = (over: Partial<SandboxFacts> = {}): SandboxFacts => ({
  rootless: true,
  dir: "/state/runs/abc123",
  id: "abc123",
  layers: { reviews: "/data/.reviews", ephemeral: "/data/.ephemeral" },
  node: "/usr/bin/node",
  projectPath: "/home/u/p",
  rootfs: "/data/p/default/rootfs",
  volumes: [],
  ...over,
});
const opts = (o: Partial<RunOptions> = {}): RunOptions => ({ bundle: "default", command: ["true"], ...o });

function refused(f: () => unknown, pattern: RegExp): void {
  assert.throws(f, (err: unknown) => err instanceof CmError && err.exitCode === 125 && pattern.test(err.message));
}

describe("planSandbox", () => {
  test("nothing asked: nothing planned", () => {
    assert.deepEqual(planSandbox(opts(), facts(), "runc"), { spec: {}, record: {} });
  });

  test("--allow-host: a private network, the hook into the run directory, the proxy variables, the record", () => {
    const p = planSandbox(opts({ allowHosts: ["Example.com", "*.b.example:8443"], quiet: true, verbose: true }), facts(), "runc");
    assert.equal(p.network, "none");
    assert.deepEqual(p.record, { egress: { allow: ["Example.com", "*.b.example:8443"], rootless: true, quiet: true, verbose: true } });
    assert.equal(p.spec.egress?.hook.args?.at(-1), "/state/runs/abc123/proxy.sock");
    assert.ok(p.spec.egress?.env.includes("https_proxy=http://127.0.0.1:3128"));
  });

  test("--allow-host refusals: --network host, runsc, a bad pattern named by where it came from", () => {
    refused(() => planSandbox(opts({ allowHosts: ["a.example"], network: "host" }), facts(), "runc"), /--network host cannot be combined/);
    refused(() => planSandbox(opts({ allowHosts: ["a.example"] }), facts(), "runsc"), /does not work with runsc/);
    refused(
      () => planSandbox(opts({ allowHosts: ["*.com"], allowHostsWhere: "/p/cm.toml: run.allow_hosts" }), facts(), "runc"),
      /^\/p\/cm\.toml: run\.allow_hosts "\*\.com": a wildcard needs/,
    );
  });

  test("--review: the layer in <data>/.reviews/<id>, userxattr rootless; refused with -v .:/project:ro and runsc", () => {
    assert.deepEqual(planSandbox(opts({ review: true }), facts(), "runc").spec.review, {
      project: "/home/u/p",
      upper: "/data/.reviews/abc123/upper",
      work: "/data/.reviews/abc123/work",
      userxattr: true,
    });
    const ro = [{ source: "/home/u/p", destination: "/project", readOnly: true }];
    refused(() => planSandbox(opts({ review: true }), facts({ volumes: ro }), "runc"), /--review and -v \.:\/project:ro/);
    refused(() => planSandbox(opts({ review: true }), facts(), "runsc"), /--review works with runc only/);
  });

  test("--ephemeral: the layer in <data>/.ephemeral/<id>; runc only; overlay-unsafe paths refused", () => {
    const p = planSandbox(opts({ ephemeral: true }), facts({ rootless: false }), "runc");
    assert.deepEqual(p.spec.ephemeral, {
      upper: "/data/.ephemeral/abc123/upper",
      work: "/data/.ephemeral/abc123/work",
      userxattr: false,
    });
    assert.deepEqual(p.record, { ephemeral: true });
    assert.deepEqual(ephemeralPaths("/r", "x"), { dir: "/r/x", upper: "/r/x/upper", work: "/r/x/work" });
    for (const kind of ["crun", "runsc"] as const) {
      refused(() => planSandbox(opts({ ephemeral: true }), facts(), kind), /--ephemeral works with runc only/);
    }
    refused(() => planSandbox(opts({ ephemeral: true }), facts({ rootfs: "/data/a:b/rootfs" }), "runc"), /overlayfs paths cannot contain/);
    refused(() => planSandbox(opts({ review: true }), facts({ projectPath: "/home/u/a,b" }), "runc"), /overlayfs paths cannot contain/);
    // the layers' own directory (CM_HOME) is checked too
    const unsafe = { reviews: "/d:x/.reviews", ephemeral: "/d:x/.ephemeral" };
    refused(() => planSandbox(opts({ review: true }), facts({ layers: unsafe }), "runc"), /cannot use \/d:x\/\.reviews/);
    refused(() => planSandbox(opts({ ephemeral: true }), facts({ layers: unsafe }), "runc"), /cannot use \/d:x\/\.ephemeral/);
  });
});

describe("the per-run spec of a sandboxed run", () => {
  const runFacts = (rootless: boolean): RunFacts => ({
    rootless,
    cpuCount: 2,
    cgroups: () => ({ version: "v2", delegated: ["memory", "cpu", "pids"] }),
    id: "abc123",
    dir: "/state/runs/abc123",
    layers: { reviews: "/data/.reviews", ephemeral: "/data/.ephemeral" },
    node: "/usr/bin/node",
    project: { key: "p", name: "p", path: "/home/u/p" },
    bundle: { name: "default", dir: "/data/p/default", spec: storedSpec(rootless) },
    rootfs: "/data/p/default/rootfs",
    runtime: { binary: "/usr/bin/runc", root: "/state/runc" },
    env: ["HTTPS_PROXY=http://user.example:1", "ALL_PROXY=socks5://x"],
    volumes: [],
    defaultShell: () => ["/bin/sh"],
    seccomp: undefined,
    stdinTty: false,
    term: undefined,
    init: "/usr/bin/tini-static",
    ulimits: { own: {}, invoker: {}, privileged: true },
    bundleHosts: "",
    hostProxy: ["HTTPS_PROXY=http://host-proxy.example:3128", "FTP_PROXY=http://ftp-proxy.example:21"],
  });

  for (const rootless of [false, true]) {
    test(`all three at once (${rootless ? "rootless" : "root"}): / and /project overlays, network namespace, hook, proxy env`, () => {
      const plan = planRun(opts({ allowHosts: ["a.example"], review: true, ephemeral: true }), runFacts(rootless));
      assert.deepEqual(
        { egress: plan.record.egress?.allow, review: plan.record.review, ephemeral: plan.record.ephemeral },
        { egress: ["a.example"], review: true, ephemeral: true },
      );
      const spec = runSpec(plan.bundle.spec, plan.spec);
      const root = spec.mounts[0];
      assert.equal(root?.destination, "/", "the rootfs overlay comes before every other mount");
      assert.equal(root?.type, "overlay");
      assert.deepEqual(root?.options, [
        "lowerdir=/data/p/default/rootfs",
        "upperdir=/data/.ephemeral/abc123/upper",
        "workdir=/data/.ephemeral/abc123/work",
        "volatile",
        ...(rootless ? ["userxattr"] : ["redirect_dir=off", "metacopy=off", "index=off"]),
      ]);
      const project = spec.mounts.filter((m) => m.destination === "/project");
      assert.equal(project.length, 1);
      assert.equal(project[0]?.type, "overlay");
      assert.ok(project[0]?.options?.includes("lowerdir=/home/u/p"));
      assert.ok(project[0]?.options?.includes("upperdir=/data/.reviews/abc123/upper"), "the review on disk, kept across reboots");
      assert.ok(spec.linux.namespaces.some((n) => n.type === "network"));
      assert.equal(spec.hooks?.createRuntime?.length, 1);
      const env = spec.process.env;
      assert.ok(env.includes("HTTPS_PROXY=http://127.0.0.1:3128"), "cm's proxy replaces the user's");
      assert.ok(!env.some((e) => e.startsWith("ALL_PROXY=")), "ALL_PROXY would bypass it");
      assert.ok(!env.some((e) => e.startsWith("FTP_PROXY=")), "none of the host's proxy variables: cm's proxy goes on through them");
    });
  }

  test("without the options the spec has no overlay, no hook", () => {
    const plan = planRun(opts(), runFacts(true));
    const spec = runSpec(plan.bundle.spec, plan.spec);
    assert.ok(!spec.mounts.some((m) => m.type === "overlay"));
    assert.equal(spec.hooks, undefined);
    assert.equal(plan.record.egress, undefined);
  });
});
