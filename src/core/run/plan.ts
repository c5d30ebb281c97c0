/**
 * The plan of a run: options + host facts -> what will happen (RunPlan), pure. actions/run.ts reads
 * the facts (readRunFacts), plans, checks the command inside the rootfs, writes the run directory
 * (store/runs.ts createRunDir) and executes it (actions/runexec.ts). A new run option is a field
 * in RunOptions (core/run/options.ts), a step here that checks it and puts what it needs into the
 * plan (spec input, extra mounts and env, per-run files, record fields), and a spec transform.
 */
import { CmError } from "../../errors.ts";
import type { CgroupFacts } from "../../host/cgroups.ts";
import { cgroupDriver, checkLimitEnforceable, memoryTooSmall, systemdCgroupsPath } from "../limits.ts";
import { imageProcess, type MountCheck, type RunSpecInput } from "../runtime-spec/index.ts";
import type { Mount, OciSpec, Seccomp } from "../runtime-spec/types.ts";
import { formatBytes } from "../size.ts";
import { USERNS_ANNOTATION } from "../userns.ts";
import { type CommandOrigin, runCommand } from "./command.ts";
import { mergeEnv } from "./env.ts";
import { hostCaEnv, hostCaFiles, hostCaMounts } from "./hostca.ts";
import { etcMounts, HOSTNAME_FILE, HOSTS_FILE, hostnameFile, hostsFile } from "./hosts.ts";
import { initMissing, initMount } from "./init.ts";
import type { RunOptions } from "./options.ts";
import { proxyEnvFor } from "./proxy.ts";
import { type CpuLimit, checkPidsLimit, cpuLimit, parseWorkdir } from "./resources.ts";
import { checkRuntimeLimits, checkRuntimeUsable, type RuntimeKind, runtimeFlags, runtimeKind } from "./runtime.ts";
import { type OverlayRoots, planSandbox, type SandboxRecord } from "./sandbox.ts";
import { runtimeLogFlags } from "./startup.ts";
import { resolveUlimits, type UlimitFacts } from "./ulimit.ts";
import type { VolumeSpec } from "./volume.ts";

/** What the host and the stored bundle say, read before planning (actions/run.ts readRunFacts). */
export interface RunFacts {
  rootless: boolean;
  /** CPUs usable by cm (os.availableParallelism) */
  cpuCount: number;
  /** read on first use only: most runs set no limit */
  cgroups: () => CgroupFacts;
  /** the new container's ID and its run directory <state>/runs/<id> (not created yet) */
  id: string;
  dir: string;
  /** where overlay layers go (core/layout.ts): --review's kept, --ephemeral's removed at the end */
  layers: OverlayRoots;
  /** cm's own Node binary (process.execPath) */
  node: string;
  project: { key: string; name: string; path: string };
  bundle: { name: string; dir: string; spec: OciSpec };
  /** the bundle's rootfs, real path */
  rootfs: string;
  /** the runtime's real path and its state root */
  runtime: { binary: string; root: string };
  /** -e/--env-file/cm.toml env, resolved against the host's environment, in order (a later key wins) */
  env: string[];
  /** -v values with real source paths */
  volumes: VolumeSpec[];
  /** the project and -v sources as cm checked them: the runtime must mount exactly these (runtime-spec/verify.ts) */
  mountChecks?: MountCheck[] | undefined;
  /** the default command when none is given: bash -l or sh -l, by what the rootfs has (read on use) */
  defaultShell: () => string[];
  /** --security-opt seccomp=: the profile, null unconfined, undefined the stored one */
  seccomp: Seccomp | null | undefined;
  /** the host's init (tini-static) when it is installed (core/run/init.ts) */
  init: string | undefined;
  /** cm's and the invoker's rlimits, nr_open (host/rlimits.ts) */
  ulimits: UlimitFacts;
  /** the text of the bundle's own /etc/hosts ("" when none), read without following links out of it */
  bundleHosts: string;
  /** whether cm's stdin is a terminal, and the host's TERM */
  stdinTty: boolean;
  term: string | undefined;
  /** the host's proxy variables (core/run/proxy.ts hostProxyEnv().vars) */
  hostProxy: string[];
  /** --host-ca: the host's certificates and the rootfs store's (host/ca.ts), read only when asked for */
  hostCa?: { host: string[]; own: string[] } | undefined;
}

/** A file cm writes into the run directory before the container starts (e.g. a per-run /etc/hosts, bind-mounted). */
export interface RunFile {
  /** a plain file name inside the run directory (not config.json, run.json or a RUN_FILES name) */
  name: string;
  content: string;
  /** default 0o600 */
  mode?: number | undefined;
}

/** The first word that will run, and where it is looked up inside (126/127 before anything starts). */
export interface CommandCheck {
  args: string[];
  /** undefined for the default shell */
  origin: CommandOrigin | undefined;
  cwd: string;
  path: string;
  /** bind mounts as destination -> host source, /project the project's real path */
  mounts: { destination: string; source: string }[];
}

export interface RunPlan {
  id: string;
  dir: string;
  bundle: { name: string; dir: string; spec: OciSpec };
  command: CommandCheck;
  /** all runSpec needs over the stored spec: options, extra mounts, extra env */
  spec: RunSpecInput;
  runtime: { binary: string; kind: RuntimeKind; root: string; flags: string[] };
  /** run.json's fields; started, cmPid and cmStart are stamped when it is written */
  record: {
    projectKey: string;
    projectName: string;
    bundle: string;
    bundleDir: string;
    projectPath: string;
    command: string[];
    detached?: true;
    /** a detached run's log limit per file (store/log.ts) */
    logMaxBytes?: number;
  } & SandboxRecord;
  /** per-run files written into the run directory before the start */
  files: RunFile[];
  detach: boolean;
  terminal: boolean;
}

/** Checks the options against the facts and decides the run. Throws CmError for what cannot be done. */
export function planRun(opts: RunOptions, facts: RunFacts): RunPlan {
  const { cpu, pids } = checkLimits(opts, facts);
  const workdir = opts.workdir === undefined ? undefined : parseWorkdir(opts.workdir);
  if (opts.detach && opts.tty) {
    throw new CmError("usage", "run: --detach and --tty cannot be combined: a detached container has no terminal", {
      hint: "leave out -t (cm exec -t gives a terminal in a running container)",
    });
  }
  const kind = runtimeKind(facts.runtime.binary);
  const sandbox = sandboxFor(opts, facts, kind);
  const network = sandbox.network ?? opts.network ?? "host";
  const host = runtimeHost(opts, facts, kind, cpu, pids);

  const stored = facts.bundle.spec;
  const resolved = runCommand(imageProcess(stored.annotations), opts);
  const args = resolved?.args ?? facts.defaultShell();
  const terminal = opts.detach ? false : (opts.tty ?? facts.stdinTty);
  // Features add here (or in a function like machine() below): extra mounts (spec.mounts),
  // variables (before facts.env, so the user's win), files.
  const ca = hostCaPart(opts, facts);
  // --http-proxy (default on): the host's proxy variables, under the bundle's own values of them.
  // Not with --allow-host: the container sees cm's proxy only (which goes on through the host's).
  const proxy = opts.httpProxy !== false && !sandbox.spec.egress ? proxyEnvFor(stored.process.env, facts.hostProxy) : [];
  const env = [...proxy, ...ca.env, ...facts.env];
  const m = machine(opts, facts);
  const { init, rlimits } = m;
  const mounts = [...ca.mounts, ...m.mounts];
  const files = [...ca.files, ...m.files];
  return {
    id: facts.id,
    dir: facts.dir,
    bundle: facts.bundle,
    command: { args, origin: resolved?.origin, ...lookupContext(facts, workdir, env) },
    spec: {
      rootfsPath: facts.rootfs,
      args,
      terminal,
      term: facts.term,
      memoryBytes: opts.memoryBytes,
      env,
      volumes: facts.volumes,
      mounts,
      network,
      cpu,
      pidsLimit: pids,
      readOnly: opts.readOnly,
      workdir,
      runtime: kind,
      seccomp: facts.seccomp,
      ...sandbox.spec,
      cgroupsPath: host.cgroupDriver === "systemd" ? systemdCgroupsPath(facts.rootless, facts.id) : undefined,
      // --review mounts /project as an overlay, not a bind of the checked directory
      mountChecks: sandbox.spec.review ? facts.mountChecks?.filter((c) => c.destination !== "/project") : facts.mountChecks,
      init: init !== undefined,
      rlimits,
      shmBytes: opts.shmBytes,
    },
    runtime: { ...facts.runtime, kind, flags: [...runtimeFlags(kind, host, network), ...runtimeLogFlags(kind, facts.dir)] },
    record: {
      projectKey: facts.project.key,
      projectName: facts.project.name,
      bundle: facts.bundle.name,
      bundleDir: facts.bundle.dir,
      projectPath: facts.project.path,
      command: args,
      ...(opts.detach ? { detached: true as const, ...(opts.logMaxBytes ? { logMaxBytes: opts.logMaxBytes } : {}) } : {}),
      ...sandbox.record,
    },
    files,
    detach: opts.detach === true,
    terminal,
  };
}

/** The sandbox options (issue 19: --allow-host, --review, --ephemeral) planned from the run's facts. */
function sandboxFor(opts: RunOptions, facts: RunFacts, kind: RuntimeKind) {
  const { rootless, dir, id, layers, node, rootfs, volumes } = facts;
  return planSandbox(opts, { rootless, dir, id, layers, node, projectPath: facts.project.path, rootfs, volumes }, kind);
}

/** The host as the runtime sees it; a runtime that cannot work here, or cannot enforce the limits, is refused. */
function runtimeHost(opts: RunOptions, facts: RunFacts, kind: RuntimeKind, cpu: CpuLimit | undefined, pids: number | undefined) {
  const wantsLimits = opts.memoryBytes !== undefined || cpu !== undefined || pids !== undefined;
  const host = {
    rootless: facts.rootless,
    cgroupHybrid: kind === "crun" ? facts.cgroups().hybrid === true : false,
    // Runs without limits never read cgroup facts for this: they keep the runtime's default driver (no scope, no D-Bus).
    cgroupDriver: wantsLimits && kind !== "runsc" ? cgroupDriver(facts.cgroups(), facts.rootless, true) : ("cgroupfs" as const),
    rangeBundle: facts.bundle.spec.annotations?.[USERNS_ANNOTATION] === "range",
  };
  checkRuntimeUsable(kind, facts.runtime.binary, host);
  checkRuntimeLimits(kind, { pids: pids !== undefined, any: wantsLimits, rootless: facts.rootless });
  return host;
}

/** Where the command is looked up inside (127/126 before the start): its working directory, PATH and mounts. */
function lookupContext(facts: RunFacts, workdir: string | undefined, env: string[]) {
  const stored = facts.bundle.spec;
  return {
    cwd: workdir ?? stored.process.cwd,
    path: pathOf(mergeEnv(stored.process.env, env)),
    mounts: [...bindMounts(stored.mounts, facts.project.path), ...facts.volumes.filter((v) => v.destination !== "/project")],
  };
}

/** --host-ca: the combined bundle and apt.conf as run files, bound read-only, and the variables naming them. */
function hostCaPart(opts: RunOptions, facts: RunFacts): { files: RunFile[]; mounts: Mount[]; env: string[] } {
  if (!opts.hostCa) return { files: [], mounts: [], env: [] };
  if (!facts.hostCa) throw new CmError("internal", "--host-ca: the certificates were not read");
  return { files: hostCaFiles(facts.hostCa.host, facts.hostCa.own), mounts: hostCaMounts(facts.dir), env: hostCaEnv() };
}

/** A machine (issue 13): the init as PID 1, the run's /etc/hosts and /etc/hostname, the user's rlimits. */
function machine(opts: RunOptions, facts: RunFacts) {
  if (opts.init !== false && facts.init === undefined) throw initMissing();
  const init = opts.init === false ? undefined : facts.init;
  const rlimits = resolveUlimits(opts.ulimits ?? {}, facts.ulimits);
  const hostname = facts.bundle.spec.hostname;
  const files: RunFile[] = [
    { name: HOSTS_FILE, content: hostsFile(hostname, facts.bundleHosts), mode: 0o644 },
    { name: HOSTNAME_FILE, content: hostnameFile(hostname), mode: 0o644 },
  ];
  const mounts: Mount[] = etcMounts({ hosts: `${facts.dir}/${HOSTS_FILE}`, hostname: `${facts.dir}/${HOSTNAME_FILE}` });
  if (init) mounts.push(initMount(init));
  return { init, rlimits, mounts, files };
}

/** A limit the user asked for is enforced or refused (never silently dropped): the cgroup values. */
function checkLimits(opts: RunOptions, facts: RunFacts): { cpu: CpuLimit | undefined; pids: number | undefined } {
  if (opts.memoryBytes !== undefined) {
    const why = memoryTooSmall(opts.memoryBytes);
    if (why)
      throw new CmError("bad-size", `--memory ${formatBytes(opts.memoryBytes)} is too small: ${why}`, { hint: "give --memory 6m or more" });
    checkLimitEnforceable("memory", facts.rootless, facts.cgroups());
  }
  const cpu = opts.cpus === undefined ? undefined : cpuLimit(opts.cpus, facts.cpuCount);
  if (cpu) checkLimitEnforceable("cpu", facts.rootless, facts.cgroups());
  const pids = opts.pidsLimit === undefined ? undefined : checkPidsLimit(opts.pidsLimit);
  if (pids !== undefined) checkLimitEnforceable("pids", facts.rootless, facts.cgroups());
  return { cpu, pids };
}

/** Bind mounts as destination -> host source, with /project pointing at the project's real path. */
function bindMounts(mounts: readonly Mount[], projectPath: string) {
  return mounts
    .filter((m) => m.type === "bind" && m.source)
    .map((m) => ({ destination: m.destination, source: m.destination === "/project" ? projectPath : (m.source as string) }));
}

/** PATH of an environment (the lookup path of the command), the default when it has none. */
export function pathOf(env: readonly string[]): string {
  return env.find((e) => e.startsWith("PATH="))?.slice(5) ?? "/usr/local/bin:/usr/bin:/bin";
}
