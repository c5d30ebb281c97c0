/**
 * What makes a run behave like a Linux machine (issue 13), for cm run (foreground and detached),
 * cm exec and post_create: the init as PID 1, per-run /etc/hosts and /etc/hostname, rlimits and
 * /dev/shm, the start-failure check (126/127 before anything starts), the runtime's errors read
 * from its JSON log instead of the terminal, and the OOM kill read from the cgroup before the
 * runtime removes it. The decisions are pure (core/run/init, hosts, ulimit, startup, oom); this
 * module reads the host facts and the bundle, and writes the run directory's files.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { etcFiles, hostnameFile, hostsFile, MAX_BUNDLE_HOSTS } from "../core/run/hosts.ts";
import { INIT_ARGS, INIT_BINARY, INIT_PACKAGE, withInit } from "../core/run/init.ts";
import { oomMessage } from "../core/run/oom.ts";
import type { RuntimeKind } from "../core/run/runtime.ts";
import { runtimeLogMessages, type StartFailure, shortRuntimeMessage, startFailureFromRuntime } from "../core/run/startup.ts";
import { type Limits, resolveUlimits, rlimits, shmSize, stackSoft } from "../core/run/ulimit.ts";
import { formatBytes } from "../core/size.ts";
import { compose, type Transform } from "../core/spec/transforms.ts";
import type { OciSpec, Rlimit } from "../core/spec/types.ts";
import { CmError } from "../errors.ts";
import { readOomKill, runcCgroupPaths } from "../host/oom.ts";
import { readUlimitFacts } from "../host/rlimits.ts";
import { requireInit } from "../host/tools.ts";
import { startFailure } from "../rootfs/command.ts";

/** Files a run directory gets for the machine parts (besides RUN_FILES). */
export const MACHINE_FILES = { hosts: "hosts", hostname: "hostname", runtimeLog: "runtime.log" } as const;

export interface MachineOptions {
  /** default true */
  init?: boolean | undefined;
  ulimits?: Limits | undefined;
  shmBytes?: number | undefined;
  memoryBytes?: number | undefined;
}

export interface MachinePlan {
  /** host path of the init, or undefined for --no-init */
  init: string | undefined;
  rlimits: Rlimit[];
  shmBytes: number | undefined;
  /** the run directory's files: name -> content */
  files: { name: string; content: string }[];
  /** keep the runtime's state after the exit (`run --keep`) to read the memory cgroup: runc with a memory limit */
  keep: boolean;
  kind: RuntimeKind;
}

/**
 * Decides the machine parts of a run: the init (refused when tini is missing, unless --no-init),
 * the rlimits (the invoker's, --ulimit over them; refused above what the user may set), the files.
 */
export function planMachine(
  opts: MachineOptions,
  facts: { rootless: boolean; rootfs: string; hostname: string; kind: RuntimeKind },
): MachinePlan {
  const init = opts.init === false ? undefined : requireInit(INIT_BINARY, INIT_PACKAGE);
  const limits = resolveUlimits(opts.ulimits ?? {}, readUlimitFacts(!facts.rootless));
  return {
    init,
    rlimits: limits,
    shmBytes: opts.shmBytes,
    files: [
      { name: MACHINE_FILES.hosts, content: hostsFile(facts.hostname, readBundleHosts(facts.rootfs)) },
      { name: MACHINE_FILES.hostname, content: hostnameFile(facts.hostname) },
    ],
    keep: opts.memoryBytes !== undefined && facts.kind === "runc",
    kind: facts.kind,
  };
}

/** The spec changes of the plan; `dir` is the run directory holding the plan's files. Apply last (the init wraps the final args). */
export function machineSpec(plan: MachinePlan, dir: string): Transform {
  return compose(
    etcFiles({ hosts: join(dir, MACHINE_FILES.hosts), hostname: join(dir, MACHINE_FILES.hostname) }),
    rlimits(plan.rlimits),
    plan.shmBytes !== undefined ? shmSize(plan.shmBytes) : (s) => s,
    cgroupReadOnly(),
    plan.init ? withInit(plan.init) : (s) => s,
  );
}

/** /sys/fs/cgroup read-only inside (its v1 tmpfs is otherwise writable as root): remounted read-only by the runtime. */
export function cgroupReadOnly(): Transform {
  return (spec) =>
    spec.linux.readonlyPaths.includes("/sys/fs/cgroup")
      ? spec
      : { ...spec, linux: { ...spec.linux, readonlyPaths: [...spec.linux.readonlyPaths, "/sys/fs/cgroup"] } };
}

/** The runtime log's size now: a later runtimeFailure reads only what was added after it. */
export function runtimeLogSize(dir: string): number {
  try {
    return statSync(join(dir, MACHINE_FILES.runtimeLog)).size;
  } catch {
    return 0;
  }
}

export function writeMachineFiles(plan: MachinePlan, dir: string): void {
  for (const f of plan.files) writeFileSync(join(dir, f.name), f.content, { mode: 0o644 });
}

/**
 * Global runtime flags that send its errors to `<dir>/runtime.log` as JSON (runc, crun), so that
 * none of its log lines reaches the terminal: cm reads them (runtimeFailure) and says what failed.
 * runsc's --log is its debug log: it is left alone.
 */
export function runtimeLogFlags(kind: RuntimeKind, dir: string): string[] {
  return kind === "runsc" ? [] : ["--log", join(dir, MACHINE_FILES.runtimeLog), "--log-format", "json"];
}

/**
 * Checks that the command can start (126/127 with the cause, before anything starts): the first
 * word of `args` as the container will execute it, argv + env against the kernel's limits.
 */
export function checkStart(
  rootfs: string,
  spec: Pick<OciSpec, "process">,
  args: readonly string[],
  lookup: { cwd: string; path: string; mounts: { destination: string; source: string }[] },
  where: string,
  withInitArgs: boolean,
  hint?: string,
): void {
  const failure = startFailure(rootfs, args[0] as string, {
    ...lookup,
    args: withInitArgs ? [...INIT_ARGS, ...args] : args,
    env: spec.process.env,
    stackSoft: stackSoft(spec.process.rlimits),
    arch: process.arch,
    where,
  });
  if (failure) throw startError(failure, hint);
}

function startError(f: StartFailure, hint?: string): CmError {
  return new CmError(f.status === 127 ? "command-not-found" : "command-not-executable", f.reason, {
    exitCode: f.status,
    ...(hint ? { hint } : {}),
  });
}

/**
 * After the runtime failed without starting the container: its error, from its JSON log in `dir`,
 * as a CmError (126/127 for an exec failure, 125 otherwise). Undefined when the log says nothing.
 */
export function runtimeFailure(dir: string, runtimeName: string, offset = 0): CmError | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, MACHINE_FILES.runtimeLog)).subarray(offset).toString("utf8");
  } catch {
    return undefined;
  }
  const messages = runtimeLogMessages(text);
  if (messages.length === 0) return undefined;
  const start = startFailureFromRuntime(messages);
  if (start) return startError(start);
  return new CmError(
    "start-failed",
    `the container did not start: ${runtimeName}: ${shortRuntimeMessage(messages[messages.length - 1] as string)}`,
    {
      hint: "check the options (-w, -v, --runtime) and the bundle",
    },
  );
}

/** The OOM line for a container ended with its state kept (`run --keep`), or undefined; read before `delete`. */
export function oomLine(plan: Pick<MachinePlan, "keep">, stateRoot: string, id: string): string | undefined {
  if (!plan.keep) return undefined;
  const oom = readOomKill(runcCgroupPaths(stateRoot, id));
  return oom ? oomMessage(oom, formatBytes) : undefined;
}

/**
 * The bundle's own /etc/hosts (at most MAX_BUNDLE_HOSTS bytes), read without following a symlink
 * out of the root filesystem: /etc is opened with O_NOFOLLOW|O_DIRECTORY and hosts through that
 * descriptor with O_NOFOLLOW (a container may have replaced either). "" when there is none.
 */
export function readBundleHosts(rootfs: string): string {
  let dirFd: number | undefined;
  let fd: number | undefined;
  try {
    dirFd = openSync(join(rootfs, "etc"), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    fd = openSync(`/proc/self/fd/${dirFd}/hosts`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    if (!fstatSync(fd).isFile()) return "";
    const buf = Buffer.alloc(MAX_BUNDLE_HOSTS);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString("utf8", 0, n);
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (dirFd !== undefined) closeSync(dirFd);
  }
}
