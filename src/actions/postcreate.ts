/**
 * post_create: the project file's commands, run inside a bundle that is still being built
 * (<project>/.<bundle>.creating-<pid>/rootfs), before `cm create` renames it into place. Each runs
 * as `/bin/sh -c COMMAND` through the same runc machinery as `cm run` (a per-run config.json in
 * cm's state directory whose root.path points at the work directory, the project at /project),
 * without a terminal and with stdin closed, its output shown. The first failing command fails the
 * create; the caller then removes the work directory, so no half-made bundle is left.
 */

import { existsSync } from "node:fs";
import { join } from "node:path";
import { escapeControls } from "../core/names.ts";
import { proxyEnv } from "../core/run/allowhost.ts";
import { hostCaEnv, hostCaFiles, hostCaMounts } from "../core/run/hostca.ts";
import { etcMounts, HOSTNAME_FILE, HOSTS_FILE, hostnameFile, hostsFile } from "../core/run/hosts.ts";
import { initMount } from "../core/run/init.ts";
import type { RunFile } from "../core/run/plan.ts";
import { hostProxyEnv, proxyEnvFor } from "../core/run/proxy.ts";
import { proxyHook } from "../core/run/proxyhook.ts";
import { runtimeRootName } from "../core/run/runtime.ts";
import { runtimeLogFlags } from "../core/run/startup.ts";
import { resolveUlimits } from "../core/run/ulimit.ts";
import { runSpec } from "../core/runtime-spec/index.ts";
import type { Mount, OciSpec } from "../core/runtime-spec/types.ts";
import { CmError } from "../errors.ts";
import { realPath, removeTree } from "../host/fs.ts";
import { newContainerId } from "../host/random.ts";
import { requireTool } from "../host/tools.ts";
import { findCommand } from "../rootfs/command-lookup.ts";
import { OciRuntime } from "../runtime/oci-runtime.ts";
import { FORWARDED } from "../runtime/signals.ts";
import { createRunDir, runDir } from "../store/runs.ts";
import type { Progress } from "../ui/progress.ts";
import type { Context } from "./context.ts";
import { readMachineFacts, runtimeFailure } from "./machine.ts";
import { projectCheck } from "./mountcheck.ts";
import { executeRun } from "./runexec.ts";
import { sandboxSteps } from "./runsteps.ts";

export interface PostCreateInput {
  /** the work directory's rootfs */
  rootfs: string;
  /** the bundle's config (as it will be stored) */
  spec: OciSpec;
  commands: string[];
  projectKey: string;
  projectName: string;
  projectPath: string;
  bundle: string;
  progress: Progress;
  /** the host's proxy variables go in (cm create --http-proxy, default true) */
  httpProxy?: boolean | undefined;
  /** the host's certificate authorities are trusted (cm create --host-ca) */
  hostCa?: boolean | undefined;
  /** cm.toml [create] allow_hosts: the commands' egress only through cm's proxy, to these */
  allowHosts?: string[] | undefined;
}

/** Where a post_create run is, so that an interrupted create can stop it before removing the tree. */
export interface PostCreateHandle {
  /** kills the running command's container, if any, and removes its state */
  abort(): void;
}

export async function runPostCreate(ctx: Context, input: PostCreateInput, handle: (h: PostCreateHandle) => void): Promise<void> {
  if (input.commands.length === 0) return;
  const rootfs = realPath(input.rootfs);
  if (findCommand(rootfs, "/bin/sh", { cwd: "/", path: "", mounts: [] }) !== "found") {
    throw new CmError("post-create-failed", `post_create needs /bin/sh inside the bundle, and ${input.bundle}'s root filesystem has none`, {
      hint: "remove post_create from cm.toml for this bundle, or create it from a source with a shell",
    });
  }
  // --http-proxy and --host-ca as for cm run (core/run/plan.ts): read up front, a bad SSL_CERT_FILE fails first
  const proxy = input.httpProxy === false ? [] : proxyEnvFor(input.spec.process.env, hostProxyEnv(process.env).vars);
  const ca = input.hostCa ? await import("../host/ca.ts") : undefined;
  // always runc: post_create prepares the bundle, whatever runtime later runs use
  const binary = requireTool("runc");
  // as a run sees it: under the init when tini is installed (post_create has no --no-init), the
  // run's /etc/hosts and /etc/hostname, the user's rlimits, runc's errors in its JSON log
  const machine = readMachineFacts(ctx.rootless, rootfs);
  const setup: Setup = {
    rootfs,
    binary,
    root: join(ctx.layout.state, runtimeRootName(binary)),
    allow: input.allowHosts?.length ? input.allowHosts : undefined,
    machine,
    rlimits: resolveUlimits({}, machine.ulimits),
    proxy,
    ca: ca ? { module: ca, hostCerts: ca.readHostBundle(process.env).certs } : undefined,
  };
  const total = input.commands.length;
  for (const [n, command] of input.commands.entries()) {
    input.progress.phase(`post_create ${n + 1}/${total}: ${command}`);
    const which = `post_create command ${n + 1} of ${total}`;
    const status = await runOne(ctx, input, setup, command, which, handle);
    if (status !== 0) {
      throw new CmError("post-create-failed", `${which} failed with exit status ${status}: ${JSON.stringify(command)}`, {
        hint: `bundle ${input.bundle} was not created; fix the command in cm.toml and run cm create again`,
      });
    }
  }
}

/** What every post_create command of one create shares. */
interface Setup {
  rootfs: string;
  binary: string;
  /** runc's --root */
  root: string;
  allow: string[] | undefined;
  machine: ReturnType<typeof readMachineFacts>;
  rlimits: ReturnType<typeof resolveUlimits>;
  /** the host's proxy variables (--http-proxy), none with allow_hosts */
  proxy: string[];
  /** --host-ca: host/ca.ts and the host's certificates */
  ca: { module: typeof import("../host/ca.ts"); hostCerts: Parameters<typeof hostCaFiles>[0] } | undefined;
}

/** The run files, mounts and variables of one command (the store as it is now: an earlier command may have installed ca-certificates). */
function commandParts(setup: Setup, input: PostCreateInput, dir: string) {
  const { machine, ca } = setup;
  // with allow_hosts the commands see cm's proxy only (it goes on through the host's)
  const env = [...(setup.allow ? [] : setup.proxy), "DEBIAN_FRONTEND=noninteractive"];
  const files: RunFile[] = [
    { name: HOSTS_FILE, content: hostsFile(input.spec.hostname, machine.bundleHosts), mode: 0o644 },
    { name: HOSTNAME_FILE, content: hostnameFile(input.spec.hostname), mode: 0o644 },
  ];
  const mounts: Mount[] = [
    ...etcMounts({ hosts: join(dir, HOSTS_FILE), hostname: join(dir, HOSTNAME_FILE) }),
    ...(machine.init ? [initMount(machine.init)] : []),
  ];
  if (ca?.hostCerts) {
    files.push(...hostCaFiles(ca.hostCerts, ca.module.readRootfsBundle(setup.rootfs)?.certs ?? []));
    mounts.push(...hostCaMounts(dir));
    env.unshift(...hostCaEnv());
  }
  return { env, files, mounts };
}

/** One command, run as `cm run` runs one (its run directory, executeRun); resolves to its exit status. */
async function runOne(
  ctx: Context,
  input: PostCreateInput,
  setup: Setup,
  command: string,
  which: string,
  handle: (h: PostCreateHandle) => void,
): Promise<number> {
  const { rootfs, binary, allow, machine } = setup;
  const args = ["/bin/sh", "-c", command];
  const id = newContainerId();
  const dir = runDir(ctx.layout.runs, id);
  const { env, files, mounts } = commandParts(setup, input, dir);
  const spec = runSpec(input.spec, {
    rootfsPath: rootfs,
    args,
    terminal: false,
    env,
    mounts,
    init: machine.init !== undefined,
    rlimits: setup.rlimits,
    mountChecks: [projectCheck(input.projectPath)],
    // With allow_hosts: a private network whose only way out is cm's proxy (actions/runsteps.ts), as for cm run --allow-host.
    egress: allow ? { hook: proxyHook(dir, process.execPath), env: proxyEnv() } : undefined,
  });
  const fields = {
    projectKey: input.projectKey,
    projectName: input.projectName,
    bundle: input.bundle,
    projectPath: input.projectPath,
    command: args,
    runtime: { binary, root: setup.root, flags: runtimeLogFlags("runc", dir) },
    ...(allow ? { egress: { allow, rootless: ctx.rootless } } : {}),
  };
  const { record } = createRunDir({ ...ctx.layout, uid: ctx.uid }, id, fields, spec, files);
  const runc = new OciRuntime(binary, setup.root);
  const cleanup = () => {
    if (existsSync(join(setup.root, id))) runc.delete(id);
    removeTree(dir);
  };
  handle({ abort: cleanup });
  try {
    const forward = { signals: FORWARDED, via: "process" } as const;
    const say = (line: string) => process.stderr.write(`cm: ${escapeControls(line)}\n`);
    const steps = sandboxSteps(record, { layers: ctx.layout, rootless: ctx.rootless, rootfs, say });
    const logged = new OciRuntime(binary, setup.root, fields.runtime.flags);
    const result = await executeRun({ id, dir, record, runtime: logged }, { stdio: ["ignore", "inherit", "inherit"], forward, steps, say });
    const failure = result.status !== 0 && !result.started ? runtimeFailure(dir, "runc") : undefined;
    if (failure) {
      throw new CmError("post-create-failed", `${which} did not start: ${failure.message}`, {
        hint: `bundle ${input.bundle} was not created; fix the command in cm.toml and run cm create again`,
      });
    }
    return result.status;
  } finally {
    cleanup();
    handle({ abort: () => {} });
  }
}
