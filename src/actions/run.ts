/**
 * cm run: start a container from a bundle with runc, in the foreground.
 *
 *   1. resolve project and bundle, check the bundle belongs to this directory
 *   2. check run options against host facts (a limit that cannot be enforced is refused)
 *   3. check the command exists inside (127 / 126 without starting anything)
 *   4. write <state>/runs/<id>/{config.json,run.json}   (the bundle's own config.json is never changed)
 *   5. runc --root <state>/runc run --bundle <run dir> <id>, with cm's stdio; signals forwarded
 *   6. on every way out: remove the run directory and any runc state left
 * With --detach, step 5 is handed to a monitor process (actions/detach.ts) and cm returns once the
 * container runs; the run directory then stays (log, exit status) until `cm gc`.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, constants } from "node:os";
import { basename, join, resolve } from "node:path";
import { isatty } from "node:tty";
import { cgroupDriver, checkLimitEnforceable, MIN_MEMORY, systemdCgroupsPath } from "../core/limits.ts";
import { checkBundleName } from "../core/names.ts";
import { commandHint, runCommand } from "../core/run/command.ts";
import { type HostEnv, mergeEnv, parseEnvArg, parseEnvFile } from "../core/run/env.ts";
import { checkPidsLimit, cpuLimit, type Network, parseWorkdir } from "../core/run/resources.ts";
import {
  checkRuntimeArg,
  checkRuntimeLimits,
  checkRuntimeUsable,
  runtimeFlags,
  runtimeKind,
  runtimeRootName,
} from "../core/run/runtime.ts";
import { checkDistinct, parseVolume, type VolumeSpec } from "../core/run/volume.ts";
import { formatBytes } from "../core/size.ts";
import { imageProcess, runSpec } from "../core/spec/index.ts";
import { CmError, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from "../errors.ts";
import { readCgroupFacts } from "../host/cgroups.ts";
import { removeTree } from "../host/fs.ts";
import { startTime } from "../host/proc.ts";
import { newContainerId } from "../host/random.ts";
import { requireTool } from "../host/tools.ts";
import { findCommand } from "../rootfs/command.ts";
import { OciRuntime } from "../runtime/runc.ts";
import { forwardSignals } from "../runtime/signals.ts";
import { ensureStateDirs, RUN_FILES, type RunRecord, runDir } from "../store/runs.ts";
import type { Context } from "./context.ts";
import { checkOwnership, requireBundle, resolveProject } from "./project.ts";
import { withProjectFile } from "./projectfile.ts";
import { seccompOverride } from "./security.ts";
import { noTerminal } from "./terminal.ts";

/**
 * Everything a run can be given: from the command line (cli/run.ts) or a project file. Values are
 * syntactically typed here and checked against the host by run() before anything is touched.
 */
export interface RunOptions {
  bundle: string;
  project?: string | undefined;
  /** ARGS: replace the image's Cmd, follow its entrypoint (core/run/command.ts) */
  command: string[];
  /** --entrypoint: one executable replacing the image's entrypoint; "" clears it */
  entrypoint?: string | undefined;
  memoryBytes?: number | undefined;
  tty?: boolean | undefined;
  /** `KEY=VALUE`, or `KEY` to take the host's value (which must be set) */
  env?: string[] | undefined;
  /** files of KEY=VALUE lines, applied before `env` */
  envFiles?: string[] | undefined;
  /** `SRC:DST[:ro|rw]`; a relative SRC is relative to the current directory */
  volumes?: string[] | undefined;
  network?: Network | undefined;
  cpus?: number | undefined;
  pidsLimit?: number | undefined;
  /** a name looked up on PATH (runc, runsc, crun) or an absolute path; default runc */
  runtime?: string | undefined;
  readOnly?: boolean | undefined;
  /** absolute path inside; default /project */
  workdir?: string | undefined;
  detach?: boolean | undefined;
  /** the project file's environment (cm.toml [run] env_file, env): applied before the flags' */
  fileEnv?: EnvLayer | undefined;
  /** --security-opt values (seccomp=unconfined|FILE) */
  securityOpts?: string[] | undefined;
}

/** env files, then variables; `where` names their origin in messages */
export interface EnvLayer {
  envFiles?: string[] | undefined;
  env?: string[] | undefined;
  where?: { envFile: string; env: string } | undefined;
}

/** Runs the container and resolves to the exit status cm should end with. */
export async function run(ctx: Context, opts: RunOptions): Promise<number> {
  const bundleName = checkBundleName(opts.bundle);
  const seccomp = opts.securityOpts?.length ? await seccompOverride(opts.securityOpts) : undefined;
  const project = resolveProject(ctx, opts.project, { cwdIsProject: false });
  const bundle = requireBundle(ctx, project, bundleName);
  const projectPath = checkOwnership(project, bundle);
  opts = await withProjectFile(opts, projectPath, ctx.rootless);
  // Run from a subdirectory of the project: start there inside too (unless -w or cm.toml says otherwise).
  if (project.subdir && opts.workdir === undefined) opts = { ...opts, workdir: `/project/${project.subdir}` };
  let facts: ReturnType<typeof readCgroupFacts> | undefined;
  const cgroups = () => (facts ??= readCgroupFacts());
  if (opts.memoryBytes !== undefined) {
    if (opts.memoryBytes < MIN_MEMORY) {
      throw new CmError(
        "bad-size",
        `--memory ${formatBytes(opts.memoryBytes)} is too small: a container needs at least ${formatBytes(MIN_MEMORY)}`,
        {
          hint: "give --memory 6m or more",
        },
      );
    }
    checkLimitEnforceable("memory", ctx.rootless, cgroups());
  }
  const cpu = opts.cpus === undefined ? undefined : cpuLimit(opts.cpus, availableParallelism());
  if (cpu) checkLimitEnforceable("cpu", ctx.rootless, cgroups());
  const pids = opts.pidsLimit === undefined ? undefined : checkPidsLimit(opts.pidsLimit);
  if (pids !== undefined) checkLimitEnforceable("pids", ctx.rootless, cgroups());
  const workdir = opts.workdir === undefined ? undefined : parseWorkdir(opts.workdir);
  const extraEnv = resolveEnv(opts, process.env);
  const volumes = resolveVolumes(ctx.cwd, opts.volumes ?? [], projectPath);
  if (opts.detach && opts.tty) {
    throw new CmError("usage", "run: --detach and --tty cannot be combined: a detached container has no terminal", {
      hint: "leave out -t (cm exec -t gives a terminal in a running container)",
    });
  }
  const network = opts.network ?? "host";
  // The real path: a symlink named otherwise must not hide which runtime it is (runsc and crun need changes).
  const runtimeBin = realpathSync(opts.runtime === undefined ? requireTool("runc") : requireRuntime(checkRuntimeArg(opts.runtime)));
  const kind = runtimeKind(runtimeBin);
  const wantsLimits = opts.memoryBytes !== undefined || cpu !== undefined || pids !== undefined;
  const hostFacts = {
    rootless: ctx.rootless,
    cgroupHybrid: kind === "crun" ? cgroups().hybrid === true : false,
    // Runs without limits never read cgroup facts here: they stay on the runtime's default driver.
    cgroupDriver: wantsLimits && kind !== "runsc" ? cgroupDriver(cgroups(), ctx.rootless, true) : ("cgroupfs" as const),
  };
  checkRuntimeUsable(kind, runtimeBin, hostFacts);
  checkRuntimeLimits(kind, { pids: pids !== undefined, any: wantsLimits, rootless: ctx.rootless });
  let rootfs: string;
  try {
    rootfs = realpathSync(join(bundle.dir, "rootfs"));
  } catch {
    // deleted (or being deleted) between reading its config and now
    throw new CmError("bundle-deleted", `bundle ${bundleName} was deleted while this run was starting`, { hint: "create it again" });
  }

  const cwd = workdir ?? bundle.spec.process.cwd;
  const envPath = pathOf(mergeEnv(bundle.spec.process.env, extraEnv));
  const resolved = runCommand(imageProcess(bundle.spec.annotations), opts);
  const args = resolved?.args ?? defaultShell(rootfs);
  // The first word actually run: the entrypoint's when there is one.
  const found = findCommand(rootfs, args[0] as string, {
    cwd,
    path: envPath,
    mounts: [...bindMounts(bundle.spec.mounts, projectPath), ...volumes.filter((v) => v.destination !== "/project")],
  });
  if (found === "not-found") {
    throw new CmError("command-not-found", `${args[0]}: command not found in bundle ${bundleName}`, {
      exitCode: EXIT_NOT_FOUND,
      hint: commandHint(resolved?.origin ?? "command", args[0] as string),
    });
  }
  if (found === "not-executable") {
    throw new CmError("command-not-executable", `${args[0]}: not executable in bundle ${bundleName}`, {
      exitCode: EXIT_NOT_EXECUTABLE,
      ...(resolved && resolved.origin !== "command" ? { hint: commandHint(resolved.origin, args[0] as string) } : {}),
    });
  }

  const terminal = opts.detach ? false : (opts.tty ?? isatty(0));
  if (terminal && !isatty(0)) throw noTerminal("run");
  const id = newContainerId();
  const spec = runSpec(bundle.spec, {
    cgroupsPath: hostFacts.cgroupDriver === "systemd" ? systemdCgroupsPath(ctx.rootless, id) : undefined,
    rootfsPath: rootfs,
    args,
    terminal,
    term: process.env.TERM,
    memoryBytes: opts.memoryBytes,
    env: extraEnv,
    volumes,
    network,
    cpu,
    pidsLimit: pids,
    readOnly: opts.readOnly,
    workdir,
    runtime: kind,
    seccomp,
  });

  ensureStateDirs(ctx.layout.state, ctx.layout.runs, ctx.uid);
  const dir = runDir(ctx.layout.runs, id);
  mkdirSync(dir, { mode: 0o700 });
  const record: RunRecord = {
    id,
    projectKey: project.key,
    projectName: bundle.projectName,
    bundle: bundleName,
    projectPath,
    command: args,
    started: new Date().toISOString(),
    cmPid: process.pid,
    runtime: {
      binary: runtimeBin,
      root: join(ctx.layout.state, runtimeRootName(runtimeBin)),
      flags: runtimeFlags(kind, hostFacts, network),
    },
    cmStart: startTime(process.pid),
    ...(opts.detach ? { detached: true } : {}),
  };
  const runtime = new OciRuntime(runtimeBin, record.runtime?.root as string, record.runtime?.flags);
  if (opts.detach) {
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    writeFileSync(join(dir, "run.json"), JSON.stringify(record));
    if (!existsSync(join(bundle.dir, "config.json"))) {
      removeTree(dir);
      throw new CmError("bundle-deleted", `bundle ${bundleName} was deleted while this run was starting`, { hint: "create it again" });
    }
    (await import("./gc.ts")).quietGc(ctx); // not in the foreground path: it is benchmarked
    const { startDetached } = await import("./detach.ts");
    await startDetached(dir, id);
    process.stdout.write(`${id}\n`);
    return 0;
  }
  const runc = runtime;
  try {
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    writeFileSync(join(dir, "run.json"), JSON.stringify(record));
    // A delete that renamed the bundle away before our record existed did not see this run: stop here.
    if (!existsSync(join(bundle.dir, "config.json"))) {
      throw new CmError("bundle-deleted", `bundle ${bundleName} was deleted while this run was starting`, { hint: "create it again" });
    }
    const pidFile = join(dir, RUN_FILES.pid);
    const child = runc.run(id, dir, pidFile);
    const stop = forwardSignals(child);
    const status = await new Promise<number>((resolve) => {
      child.on("error", () => resolve(125));
      child.on("close", (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    });
    stop();
    // The runtime writes the pid file once the container's process exists: without it, the
    // failure was the runtime's (a bad -w or -v, an unusable rootfs), not the command's.
    // (A run directory removed meanwhile, by cm delete stopping this container, is not that.)
    if (status !== 0 && existsSync(dir) && !existsSync(pidFile)) {
      throw new CmError("start-failed", `the container did not start: ${basename(runtimeBin)} failed (its error is above)`, {
        hint: "check the options (-w, -v, --runtime) and the bundle",
      });
    }
    return status;
  } finally {
    // runc run removes its own state when the container exits; if runc itself was killed it may not have.
    if (runc.hasState(id)) runc.delete(id);
    removeTree(dir);
  }
}

/** cm.toml's env_file and env, then --env-file files in order, then --env values: a later value of a key wins. */
function resolveEnv(opts: RunOptions, host: HostEnv): string[] {
  return [...(opts.fileEnv ? resolveEnvLayer(opts.fileEnv, host) : []), ...resolveEnvLayer(opts, host)];
}

function resolveEnvLayer(opts: EnvLayer, host: HostEnv): string[] {
  const out: string[] = [];
  for (const file of opts.envFiles ?? []) {
    let text: string;
    try {
      if (!statSync(file).isFile()) throw new Error("not a regular file");
      text = readFileSync(file, "utf8");
    } catch (err) {
      const why =
        (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      throw new CmError("bad-env-file", `${opts.where?.envFile ?? "--env-file"} ${file}: ${why}`, {
        hint: "give a readable file of KEY=VALUE lines",
      });
    }
    out.push(...parseEnvFile(text, file, host));
  }
  for (const e of opts.env ?? []) out.push(parseEnvArg(e, host, opts.where?.env));
  return out;
}

/** Parses -v values and makes each source its real path (it must exist); /project only with the project itself. */
function resolveVolumes(cwd: string, specs: string[], projectPath: string): VolumeSpec[] {
  const out = specs.map((text) => {
    const v = parseVolume(text);
    let source: string;
    try {
      source = realpathSync(resolve(cwd, v.source));
    } catch {
      throw new CmError("bad-volume", `invalid volume ${JSON.stringify(text)}: ${v.source} does not exist`, {
        hint: "create it first, or fix the path (SRC is on the host)",
      });
    }
    if (v.destination === "/project" && source !== projectPath) {
      throw new CmError("bad-volume", `invalid volume ${JSON.stringify(text)}: /project is the project directory and cannot be replaced`, {
        hint: "mount it elsewhere (for example /data); -v .:/project:ro makes the project read-only",
      });
    }
    return { ...v, source };
  });
  checkDistinct(out);
  return out;
}

function requireRuntime(arg: string): string {
  if (arg.includes("/")) {
    try {
      if (statSync(arg).isFile()) return requireTool(arg);
    } catch {
      // reported below
    }
    throw new CmError("tool-missing", `--runtime ${arg}: not an executable file`, {
      hint: "give the path of an OCI runtime, or a name: runc, runsc, crun",
    });
  }
  return requireTool(arg);
}

/** Bind mounts as destination -> host source, with /project pointing at the project's real path. */
function bindMounts(mounts: { destination: string; type?: string; source?: string }[], projectPath: string) {
  return mounts
    .filter((m) => m.type === "bind" && m.source)
    .map((m) => ({ destination: m.destination, source: m.destination === "/project" ? projectPath : (m.source as string) }));
}

function pathOf(env: string[]): string {
  return env.find((e) => e.startsWith("PATH="))?.slice(5) ?? "/usr/local/bin:/usr/bin:/bin";
}

/** An interactive login shell: bash when the rootfs has it, else sh. */
function defaultShell(rootfs: string): string[] {
  const bash = findCommand(rootfs, "/bin/bash", { cwd: "/", path: "", mounts: [] });
  return bash === "found" ? ["/bin/bash", "-l"] : ["/bin/sh", "-l"];
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 0) : 0;
}
