/**
 * cm run: start a container from a bundle, in the foreground or (--detach) under a monitor.
 *
 *   1. readRunFacts: project, bundle (it must belong to this directory), cm.toml under the flags,
 *      env files, volume sources, the runtime binary: reads only
 *   2. planRun (core/run/plan.ts, pure): options + facts -> RunPlan; what cannot be enforced is refused
 *   3. checkCommand: the command exists inside (127 / 126 without starting anything)
 *   4. runSpec (core/spec): the stored spec + the plan's spec input -> the per-run config.json
 *   5. writeRun: <state>/runs/<id>/{files, config.json, run.json} (store/runs.ts createRunDir);
 *      the bundle's own config.json is never changed
 *   6. executeRun (actions/runexec.ts): runtime run to the end, signals forwarded, steps before the
 *      start and after the exit; on every way out the runtime state and (foreground) the run directory go
 * With --detach, step 6 is the monitor's (actions/detach.ts) and cm returns once the container
 * runs; the run directory then stays (log, exit status) until `cm gc`.
 */
import { existsSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { basename, join, resolve } from "node:path";
import { isatty } from "node:tty";
import { checkBundleName, escapeControls } from "../core/names.ts";
import { commandHint } from "../core/run/command.ts";
import { type HostEnv, parseEnvArg, parseEnvFile } from "../core/run/env.ts";
import type { EnvLayer, RunOptions } from "../core/run/options.ts";
import { planRun, type RunFacts, type RunPlan } from "../core/run/plan.ts";
import { hostProxyEnv } from "../core/run/proxy.ts";
import { checkRuntimeArg, runtimeRootName } from "../core/run/runtime.ts";
import { checkDistinct, parseVolume, type VolumeSpec } from "../core/run/volume.ts";
import { type MountCheck, type OciSpec, runSpec } from "../core/runtime-spec/index.ts";
import { CmError, EXIT_NOT_FOUND } from "../errors.ts";
import { type CgroupFacts, readCgroupFacts } from "../host/cgroups.ts";
import { type Checked, checkConfined, openChecked, readFileConfined } from "../host/confine.ts";
import { checkedEnvValue } from "../host/decoding.ts";
import { realPath, removeTree } from "../host/fs.ts";
import { newContainerId } from "../host/random.ts";
import { requireTool } from "../host/tools.ts";
import { findCommand } from "../rootfs/command-lookup.ts";
import { OciRuntime } from "../runtime/oci-runtime.ts";
import { FORWARDED } from "../runtime/signals.ts";
import { createRunDir, runDir } from "../store/runs.ts";
import type { Context } from "./context.ts";
import { checkPlacement, checkStart, keepForOom, oomSlice, oomStep, readMachineFacts, runtimeFailure } from "./machine.ts";
import { projectCheck } from "./mountcheck.ts";
import { checkOwnership, ownDirAt, requireBundle, resolveProject } from "./project.ts";
import { withProjectFile } from "./projectfile.ts";
import { projectOwnerStep } from "./projectowner.ts";
import { type ActiveRun, bundleDeleted, bundlePresent, executeRun, undoneByDelete } from "./runexec.ts";
import { sandboxSteps } from "./runsteps.ts";
import { seccompOverride } from "./security.ts";
import { noTerminal } from "./terminal.ts";

/** Runs the container and resolves to the exit status cm should end with. */
export async function run(ctx: Context, opts: RunOptions): Promise<number> {
  const plan = planRun(...(await readRunFacts(ctx, opts)));
  checkCommand(plan);
  if (plan.terminal && !isatty(0)) throw noTerminal("run");
  const spec = runSpec(plan.bundle.spec, plan.spec);
  // Beyond "found": a #! interpreter or dynamic loader missing, a format the kernel refuses, E2BIG.
  const { args, origin, cwd, path, mounts } = plan.command;
  const hint = origin && origin !== "command" ? commandHint(origin, args[0] as string) : undefined;
  try {
    checkPlacement(plan.spec.rootfsPath, spec, `bundle ${plan.bundle.name}`);
    checkStart(plan.spec.rootfsPath, spec, args, { cwd, path, mounts }, `bundle ${plan.bundle.name}`, plan.spec.init === true, hint);
  } catch (err) {
    // 126/127 because cm delete is removing the bundle: not the command's fault
    if (err instanceof CmError && err.exitCode !== 125 && !bundlePresent(plan.bundle.dir)) throw bundleDeleted(plan.bundle.name);
    throw err;
  }
  return plan.detach ? startDetachedRun(ctx, plan, spec) : runForeground(ctx, plan, spec);
}

/**
 * The host facts a run is planned from, and the options with the project file's defaults filled
 * in. Reads (project, bundle, cm.toml, env files, volume sources, the runtime binary), never writes.
 */
async function readRunFacts(ctx: Context, given: RunOptions): Promise<[RunOptions, RunFacts]> {
  const bundleName = checkBundleName(given.bundle);
  const seccomp = given.securityOpts?.length ? await seccompOverride(given.securityOpts) : undefined;
  const project = resolveProject(ctx, given.project, { cwdIsProject: false });
  const bundle = requireBundle(ctx, project, bundleName);
  const projectPath = checkOwnership(ctx, project, bundle);
  let opts = await withProjectFile(ctx, given, projectPath);
  // Run from a subdirectory of the project: start there inside too (unless -w or cm.toml says otherwise).
  if (project.subdir && opts.workdir === undefined) opts = { ...opts, workdir: `/project/${project.subdir}` };
  let cgroups: CgroupFacts | undefined;
  // The real path: a symlink named otherwise must not hide which runtime it is (runsc and crun need changes).
  const runtimeBin = realPath(opts.runtime === undefined ? requireTool("runc") : requireRuntime(checkRuntimeArg(opts.runtime)));
  const env = resolveEnv(opts, checkedHostEnv(), projectPath);
  const volumes = resolveVolumes(ctx.cwd, opts.volumes ?? [], projectPath, (path) => ownDirAt(ctx, path));
  const mountChecks = [projectCheck(projectPath), ...volumes.filter((v) => v.destination !== "/project").map((v) => v.check)];
  const id = newContainerId();
  const rootfs = bundleRootfs(bundle.dir, bundleName);
  const facts: RunFacts = {
    rootless: ctx.rootless,
    cpuCount: availableParallelism(),
    cgroups: () => (cgroups ??= readCgroupFacts()),
    id,
    dir: runDir(ctx.layout.runs, id),
    layers: ctx.layout,
    node: process.execPath,
    project: { key: project.key, name: bundle.projectName, path: projectPath },
    bundle: { name: bundleName, dir: bundle.dir, spec: bundle.spec },
    rootfs,
    runtime: { binary: runtimeBin, root: join(ctx.layout.state, runtimeRootName(runtimeBin)) },
    env,
    volumes,
    mountChecks,
    defaultShell: () => defaultShell(facts.rootfs),
    seccomp,
    ...readMachineFacts(ctx.rootless, rootfs),
    stdinTty: isatty(0),
    term: process.env.TERM,
    hostProxy: hostProxyEnv(process.env).vars,
    // read before anything is written: a bad SSL_CERT_FILE is refused up front
    hostCa: opts.hostCa ? await readHostCa(bundle.dir, bundleName) : undefined,
  };
  return [opts, facts];
}

/** --host-ca: the host's certificates ($SSL_CERT_FILE or the system bundle) and the bundle's own store's. */
async function readHostCa(dir: string, name: string): Promise<{ host: string[]; own: string[] }> {
  const { readHostBundle, readRootfsBundle } = await import("../host/ca.ts");
  const host = readHostBundle(process.env).certs;
  return { host, own: readRootfsBundle(bundleRootfs(dir, name))?.certs ?? [] };
}

function bundleRootfs(dir: string, name: string): string {
  try {
    return realPath(join(dir, "rootfs"));
  } catch (err) {
    if (err instanceof CmError) throw err;
    // deleted (or being deleted) between reading its config and now
    throw bundleDeleted(name);
  }
}

/** The first word actually run (the entrypoint's when there is one) must exist inside: 127 / 126 without starting anything. */
function checkCommand(plan: RunPlan): void {
  const { args, origin, cwd, path, mounts } = plan.command;
  const first = args[0] as string;
  const found = findCommand(plan.spec.rootfsPath, first, { cwd, path, mounts });
  // not found because cm delete is removing the bundle: not 127
  if (found !== "found" && !bundlePresent(plan.bundle.dir)) throw bundleDeleted(plan.bundle.name);
  if (found === "not-found") {
    throw new CmError("command-not-found", `${first}: command not found in bundle ${plan.bundle.name}`, {
      exitCode: EXIT_NOT_FOUND,
      hint: commandHint(origin ?? "command", first),
    });
  }
  // not executable (or a directory): checkStart says which, once the spec is built
}

/** The writes: the run directory with its per-run files, config.json and run.json (store/runs.ts). */
function writeRun(ctx: Context, plan: RunPlan, spec: OciSpec): ActiveRun {
  const { binary, root, flags } = plan.runtime;
  const fields = { ...plan.record, runtime: { binary, root, flags } };
  const { dir, record } = createRunDir({ ...ctx.layout, uid: ctx.uid }, plan.id, fields, spec, plan.files);
  return { id: plan.id, dir, record, runtime: new OciRuntime(binary, root, flags) };
}

/** The container in the foreground, cm's stdio and signals; the run directory is removed on every way out. */
async function runForeground(ctx: Context, plan: RunPlan, spec: OciSpec): Promise<number> {
  const active = writeRun(ctx, plan, spec);
  try {
    // A delete that renamed the bundle away before our record existed did not see this run: stop here.
    if (!bundlePresent(plan.bundle.dir)) throw bundleDeleted(plan.bundle.name);
    const keep = keepForOom(spec, plan.runtime.kind);
    const say = (line: string) => process.stderr.write(`cm: ${escapeControls(line)}\n`);
    const sandbox = sandboxSteps(active.record, {
      layers: ctx.layout,
      rootless: ctx.rootless,
      rootfs: plan.spec.rootfsPath,
      say,
    });
    const result = await executeRun(active, {
      forward: { signals: FORWARDED, via: "process", guard: true },
      keep,
      say,
      steps: [
        ...sandbox,
        ...(keep ? [oomStep(say, oomSlice(spec))] : []),
        ...(ctx.rootless ? [projectOwnerStep(active.record.projectPath, ctx.uid, say)] : []),
      ],
    });
    if (await undoneByDelete(plan.bundle.dir, active.dir, result)) throw bundleDeleted(plan.bundle.name);
    // the command's: its error is in its JSON log. (A run directory removed meanwhile, by cm delete
    // stopping this container, is not that.)
    if (result.status !== 0 && existsSync(active.dir) && !result.started) {
      throw (
        runtimeFailure(active.dir, basename(plan.runtime.binary)) ??
        new CmError("start-failed", `the container did not start: ${basename(plan.runtime.binary)} failed (its error is above)`, {
          hint: "check the options (-w, -v, --runtime) and the bundle",
        })
      );
    }
    return result.status;
  } finally {
    removeTree(active.dir);
  }
}

/** --detach: the run directory is handed to a monitor (actions/detach.ts); cm prints the ID once the container runs. */
async function startDetachedRun(ctx: Context, plan: RunPlan, spec: OciSpec): Promise<number> {
  const { dir, id } = writeRun(ctx, plan, spec);
  if (!bundlePresent(plan.bundle.dir)) {
    removeTree(dir);
    throw bundleDeleted(plan.bundle.name);
  }
  (await import("./gc.ts")).quietGc(ctx); // not in the foreground path: it is benchmarked
  const { startDetached } = await import("./detach.ts");
  await startDetached(dir, id, plan.bundle);
  process.stdout.write(`${id}\n`);
  return 0;
}

/** cm.toml's env_file and env, then --env-file files in order, then --env values: a later value of a key wins. */
/**
 * process.env for `-e NAME` (the host's value): a value that is not valid UTF-8 is refused when
 * it is read (host/decoding.ts checkedEnvValue), not passed on with U+FFFD in place of its bytes.
 */
function checkedHostEnv(): HostEnv {
  return new Proxy(process.env, {
    get: (env, name) => {
      const value = typeof name === "string" ? env[name] : undefined;
      return value === undefined ? value : checkedEnvValue(name as string, value);
    },
  });
}

function resolveEnv(opts: RunOptions, host: HostEnv, projectPath: string): string[] {
  return [...(opts.fileEnv ? resolveEnvLayer(opts.fileEnv, host, projectPath) : []), ...resolveEnvLayer(opts, host, projectPath)];
}

/** An env file in the project must still be in it once opened (host/confine.ts). */
function resolveEnvLayer(opts: EnvLayer, host: HostEnv, projectPath: string): string[] {
  const out: string[] = [];
  for (const file of opts.envFiles ?? []) {
    let text: string;
    try {
      text = readFileConfined(resolve(file), projectPath, opts.where?.envFile ?? "--env-file");
    } catch (err) {
      if (err instanceof CmError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "not a regular file" : (code ?? (err as Error).message);
      throw new CmError("bad-env-file", `${opts.where?.envFile ?? "--env-file"} ${file}: ${why}`, {
        hint: "give a readable file of KEY=VALUE lines",
      });
    }
    out.push(...parseEnvFile(text, file, host));
  }
  for (const e of opts.env ?? []) out.push(parseEnvArg(e, host, opts.where?.env));
  return out;
}

/**
 * Parses -v values and makes each source its real path (it must exist), read from one open
 * descriptor with its device and inode (the mount check); a source in the project must stay in
 * it; /project only with the project itself; a writable one not over cm's own directories (ownDir).
 */
function resolveVolumes(
  cwd: string,
  specs: string[],
  projectPath: string,
  ownDir: (path: string) => string | undefined,
): (VolumeSpec & { check: MountCheck })[] {
  const out = specs.map((text) => {
    const v = parseVolume(text);
    const lexical = resolve(cwd, v.source);
    let checked: Checked;
    try {
      checked = openChecked(lexical);
    } catch (err) {
      if (err instanceof CmError) throw err;
      throw new CmError("bad-volume", `invalid volume ${JSON.stringify(text)}: ${v.source} does not exist`, {
        hint: "create it first, or fix the path (SRC is on the host)",
      });
    }
    const source = checked.real;
    checkConfined(lexical, source, projectPath, "volume source");
    const own = v.readOnly ? undefined : ownDir(source);
    if (own !== undefined) {
      throw new CmError("bad-volume", `invalid volume ${JSON.stringify(text)}: ${source} contains or is inside cm's own directory ${own}`, {
        hint: "mount it read-only (:ro), or a directory outside cm's data, cache, state and config directories",
      });
    }
    if (v.destination === "/project" && source !== projectPath) {
      throw new CmError("bad-volume", `invalid volume ${JSON.stringify(text)}: /project is the project directory and cannot be replaced`, {
        hint: "mount it elsewhere (for example /data); -v .:/project:ro makes the project read-only",
      });
    }
    return { ...v, source, check: { destination: v.destination, dev: checked.dev, ino: checked.ino } };
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

/** An interactive login shell: bash when the rootfs has it, else sh. */
function defaultShell(rootfs: string): string[] {
  const bash = findCommand(rootfs, "/bin/bash", { cwd: "/", path: "", mounts: [] });
  return bash === "found" ? ["/bin/bash", "-l"] : ["/bin/sh", "-l"];
}
