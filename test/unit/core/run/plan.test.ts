import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { RunOptions } from "../../../../src/core/run/options.ts";
import { planRun, type RunFacts } from "../../../../src/core/run/plan.ts";
import { runSpec } from "../../../../src/core/runtime-spec/index.ts";
import type { CmError } from "../../../../src/errors.ts";
import { storedSpec } from "../../../helpers/runtime-spec.ts";

function facts(over: Partial<RunFacts> = {}): RunFacts {
  const spec = storedSpec(false, { uid: 0, resolvConf: false });
  return {
    rootless: false,
    cpuCount: 2,
    cgroups: () => ({ version: "v2", delegated: ["memory", "cpu", "pids"] }),
    id: "abc123",
    dir: "/state/runs/abc123",
    layers: { reviews: "/data/.reviews", ephemeral: "/data/.ephemeral" },
    node: "/usr/bin/node",
    project: { key: "p-1", name: "p", path: "/home/u/p" },
    bundle: { name: "default", dir: "/data/p-1/default", spec },
    rootfs: "/data/p-1/default/rootfs",
    runtime: { binary: "/usr/bin/runc", root: "/state/runc" },
    env: [],
    volumes: [],
    defaultShell: () => ["/bin/sh", "-l"],
    seccomp: undefined,
    init: "/usr/bin/tini-static",
    ulimits: { own: { nofile: { soft: 1048576, hard: 1048576 } }, invoker: { nofile: { soft: 1024, hard: 4096 } }, privileged: true },
    bundleHosts: "",
    stdinTty: false,
    term: "xterm-256color",
    hostProxy: [],
    ...over,
  };
}
const opts = (o: Partial<RunOptions> = {}): RunOptions => ({ bundle: "default", command: ["true"], ...o });

describe("planRun", () => {
  test("the plain run: command checked at /project on the stored PATH, record fields, runc logging to the run directory", () => {
    const p = planRun(opts(), facts());
    assert.deepEqual(p.command.args, ["true"]);
    assert.equal(p.command.cwd, "/project");
    assert.match(p.command.path, /\/usr\/bin/);
    assert.deepEqual(p.command.mounts, [{ destination: "/project", source: "/home/u/p" }]);
    assert.deepEqual(p.record, {
      projectKey: "p-1",
      projectName: "p",
      bundle: "default",
      bundleDir: "/data/p-1/default",
      projectPath: "/home/u/p",
      command: ["true"],
    });
    assert.deepEqual(p.runtime, {
      binary: "/usr/bin/runc",
      root: "/state/runc",
      kind: "runc",
      flags: ["--log", "/state/runs/abc123/runtime.log", "--log-format", "json"],
    });
    assert.deepEqual(
      p.files.map((f) => f.name),
      ["hosts", "hostname"],
    );
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
    assert.throws(
      () => planRun(opts({ memoryBytes: 64 * 1024 * 1024 }), facts({ rootless: true, cgroups })),
      /--memory cannot be enforced/,
    );
    assert.equal(reads, 1);
  });
  test("systemd + cgroup v2: a limit puts the container in a cm-<id>.scope through the systemd driver; no limit, no scope", () => {
    const desktop = () => ({
      version: "v2" as const,
      delegated: [],
      systemd: true,
      userManager: { path: "/user.slice/user-1000.slice/user@1000.service", controllers: ["cpu", "memory", "pids"] },
      bus: "/run/user/1000/bus",
    });
    const limited = planRun(opts({ memoryBytes: 64 * 1024 * 1024 }), facts({ rootless: true, cgroups: desktop }));
    assert.equal(limited.runtime.flags[0], "--systemd-cgroup");
    const limitedSpec = runSpec(facts().bundle.spec, limited.spec);
    assert.equal(limitedSpec.linux.cgroupsPath, "user.slice:cm:abc123");
    assert.equal(limitedSpec.annotations?.["org.systemd.property.OOMPolicy"], "'continue'", "one killed process does not stop the scope");
    const crun = planRun(opts({ cpus: 1 }), facts({ cgroups: desktop, runtime: { binary: "/usr/bin/crun", root: "/s" } }));
    assert.equal(crun.runtime.flags[0], "--systemd-cgroup");
    assert.equal(crun.spec.cgroupsPath, "system.slice:cm:abc123");
    assert.equal(runSpec(facts().bundle.spec, crun.spec).annotations?.["org.systemd.property.OOMPolicy"], undefined, "runc only");
    const plain = planRun(opts(), facts({ rootless: true, cgroups: desktop }));
    assert.ok(!plain.runtime.flags.includes("--systemd-cgroup"));
    assert.equal(runSpec(facts().bundle.spec, plain.spec).linux.cgroupsPath, undefined);
    assert.throws(
      () =>
        planRun(
          opts({ cpus: 1 }),
          facts({ rootless: true, cgroups: () => ({ ...desktop(), userManager: { path: "/u", controllers: ["memory", "pids"] } }) }),
        ),
      /--cpus cannot be enforced .*cpu controller is not delegated/,
    );
  });
  test("runsc: its global flags, and --pids-limit refused", () => {
    const p = planRun(opts({ network: "none" }), facts({ runtime: { binary: "/usr/bin/runsc", root: "/state/runsc" } }));
    assert.deepEqual(p.runtime.flags, ["--network=none"]); // no --log: runsc's is its debug log
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

describe("planRun: a machine (issue 13)", () => {
  test("the init, the hosts files, the invoker's rlimits; the spec runs the command under the init", () => {
    const f = facts();
    const p = planRun(opts({ command: ["sleep", "1"], ulimits: { core: { soft: 0, hard: 0 } }, shmBytes: 1 << 20 }), f);
    assert.equal(p.spec.init, true);
    assert.deepEqual(p.command.args, ["sleep", "1"]); // the check looks at the command, not at the init
    const spec = runSpec(f.bundle.spec, p.spec);
    assert.deepEqual(spec.process.args, ["/dev/init", "-g", "--", "sleep", "1"]);
    assert.deepEqual(
      spec.mounts.filter((m) => ["/dev/init", "/etc/hosts", "/etc/hostname"].includes(m.destination)).map((m) => [m.destination, m.source]),
      [
        ["/etc/hosts", "/state/runs/abc123/hosts"],
        ["/etc/hostname", "/state/runs/abc123/hostname"],
        ["/dev/init", "/usr/bin/tini-static"],
      ],
    );
    assert.deepEqual(
      spec.process.rlimits.filter((r) => r.type === "RLIMIT_NOFILE" || r.type === "RLIMIT_CORE"),
      [
        { type: "RLIMIT_CORE", soft: 0, hard: 0 },
        { type: "RLIMIT_NOFILE", soft: 1024, hard: 4096 },
      ],
    );
    assert.ok(spec.mounts.find((m) => m.destination === "/dev/shm")?.options?.includes("size=1024k"));
    assert.ok(spec.linux.readonlyPaths.includes("/sys/fs/cgroup"));
    assert.match(p.files.find((x) => x.name === "hosts")?.content ?? "", /^127\.0\.1\.1\t/m);
  });
  test("--no-init: the command is PID 1; no tini on the host: refused unless --no-init", () => {
    const f = facts({ init: undefined });
    assert.throws(
      () => planRun(opts(), f),
      (e: CmError) => e.exitCode === 125 && /tini-static not found/.test(e.message) && /--no-init/.test(e.hint ?? ""),
    );
    const p = planRun(opts({ init: false }), f);
    assert.deepEqual(runSpec(f.bundle.spec, p.spec).process.args, ["true"]);
  });
  test("a hard limit above the user's: refused, naming the limit", () => {
    const f = facts({ ulimits: { own: { nofile: { soft: 1024, hard: 4096 } }, privileged: false } });
    assert.throws(
      () => planRun(opts({ ulimits: { nofile: { soft: 1, hard: 5000 } } }), f),
      (e: CmError) => /nofile/.test(e.message),
    );
  });
});

describe("planRun: host proxy variables and --host-ca", () => {
  const envOf = (p: ReturnType<typeof planRun>) => {
    const env = runSpec(p.bundle.spec, p.spec).process.env;
    return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  };
  const proxy = ["HTTP_PROXY=http://p:1", "NO_PROXY=host-value", "https_proxy=http://q:2"];

  test("by default the proxy variables go in, under --env (which wins) and the bundle's own value of one", () => {
    const f = facts({ hostProxy: proxy, env: ["https_proxy=http://flag:3"] });
    f.bundle.spec.process.env = [...f.bundle.spec.process.env, "NO_PROXY=image-value"];
    const env = envOf(planRun(opts(), f));
    assert.equal(env.HTTP_PROXY, "http://p:1");
    assert.equal(env.NO_PROXY, "image-value");
    assert.equal(env.https_proxy, "http://flag:3");
  });

  test("--http-proxy=false: none of them", () => {
    const env = envOf(planRun(opts({ httpProxy: false }), facts({ hostProxy: proxy })));
    assert.equal(env.HTTP_PROXY, undefined);
    assert.equal(env.https_proxy, undefined);
  });

  test("--host-ca: two run files (0644), bound read-only below /run/cm/ca, the variables naming them; --env wins", () => {
    const p = planRun(
      opts({ hostCa: true }),
      facts({ hostCa: { host: ["AAAA", "BBBB"], own: ["BBBB", "CCCC"] }, env: ["GIT_SSL_CAINFO=/mine.pem"] }),
    );
    const ca = p.files.filter((f) => f.name.startsWith("host-ca"));
    assert.deepEqual(
      ca.map((f) => [f.name, f.mode]),
      [
        ["host-ca.crt", 0o644],
        ["host-ca-apt.conf", 0o644],
      ],
    );
    assert.equal((ca[0]?.content.match(/BEGIN CERTIFICATE/g) ?? []).length, 3, "the union, each once");
    const spec = runSpec(p.bundle.spec, p.spec);
    const ro = ["bind", "ro", "nosuid", "nodev", "noexec"];
    assert.deepEqual(
      spec.mounts.filter((m) => m.destination.startsWith("/run/cm/ca/")),
      [
        { destination: "/run/cm/ca/ca-certificates.crt", type: "bind", source: "/state/runs/abc123/host-ca.crt", options: ro },
        { destination: "/run/cm/ca/apt.conf", type: "bind", source: "/state/runs/abc123/host-ca-apt.conf", options: ro },
      ],
    );
    const env = envOf(p);
    assert.equal(env.SSL_CERT_FILE, "/run/cm/ca/ca-certificates.crt");
    assert.equal(env.NODE_EXTRA_CA_CERTS, "/run/cm/ca/ca-certificates.crt");
    assert.equal(env.APT_CONFIG, "/run/cm/ca/apt.conf");
    assert.equal(env.GIT_SSL_CAINFO, "/mine.pem");
  });

  test("neither: the bundle's environment and mounts, no files", () => {
    const f = facts();
    const p = planRun(opts({ httpProxy: false }), f);
    const spec = runSpec(p.bundle.spec, p.spec);
    assert.deepEqual(spec.process.env, f.bundle.spec.process.env);
    assert.ok(!p.files.some((x) => x.name.startsWith("host-ca")));
    assert.ok(!spec.mounts.some((m) => m.destination.startsWith("/run/cm")));
  });
});
