/**
 * cm run: start a container from a bundle with runc, in the foreground.
 *
 *   1. resolve project and bundle, check the bundle belongs to this directory
 *   2. check run options against host facts (a limit that cannot be enforced is refused)
 *   3. check the command exists inside (127 / 126 without starting anything)
 *   4. write <state>/runs/<id>/{config.json,run.json}   (the bundle's own config.json is never changed)
 *   5. runc --root <state>/runc run --bundle <run dir> <id>, with cm's stdio; signals forwarded
 *   6. on every way out: remove the run directory and any runc state left
 */
import { existsSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { checkLimitEnforceable, MIN_MEMORY } from "../core/limits.ts";
import { checkBundleName, newContainerId } from "../core/names.ts";
import { formatBytes } from "../core/size.ts";
import { imageCommand, runSpec } from "../core/spec/index.ts";
import { CmError, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from "../errors.ts";
import { readCgroupFacts } from "../host/cgroups.ts";
import { removeTree } from "../host/fs.ts";
import { requireTool } from "../host/tools.ts";
import { findCommand } from "../rootfs/command.ts";
import { Runc } from "../runtime/runc.ts";
import { forwardSignals } from "../runtime/signals.ts";
import { ensureStateDirs, type RunRecord, runDir } from "../store/runs.ts";
import type { Context } from "./context.ts";
import { checkOwnership, requireBundle, resolveProject } from "./project.ts";

export interface RunOptions {
  bundle: string;
  project?: string | undefined;
  command: string[];
  memoryBytes?: number | undefined;
  tty?: boolean | undefined;
}

/** Runs the container and resolves to the exit status cm should end with. */
export async function run(ctx: Context, opts: RunOptions): Promise<number> {
  const bundleName = checkBundleName(opts.bundle);
  const project = resolveProject(ctx, opts.project);
  const bundle = requireBundle(ctx, project, bundleName);
  const projectPath = checkOwnership(project, bundle);
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
    checkLimitEnforceable("memory", ctx.rootless, readCgroupFacts());
  }
  const runcBin = requireTool("runc");
  const rootfs = realpathSync(join(bundle.dir, "rootfs"));

  const cwd = bundle.spec.process.cwd;
  const args = opts.command.length > 0 ? opts.command : (imageCommand(bundle.spec.annotations) ?? defaultShell(rootfs));
  const found = findCommand(rootfs, args[0] as string, {
    cwd,
    path: pathOf(bundle.spec.process.env),
    mounts: bindMounts(bundle.spec.mounts, projectPath),
  });
  if (found === "not-found") {
    throw new CmError("command-not-found", `${args[0]}: command not found in bundle ${bundleName}`, {
      exitCode: EXIT_NOT_FOUND,
      hint: "check the name, or install it inside the container",
    });
  }
  if (found === "not-executable") {
    throw new CmError("command-not-executable", `${args[0]}: not executable in bundle ${bundleName}`, { exitCode: EXIT_NOT_EXECUTABLE });
  }

  const terminal = opts.tty ?? process.stdin.isTTY === true;
  const spec = runSpec(bundle.spec, { rootfsPath: rootfs, args, terminal, term: process.env.TERM, memoryBytes: opts.memoryBytes });
  spec.mounts = spec.mounts.map((m) => (m.destination === "/project" ? { ...m, source: projectPath } : m));

  ensureStateDirs(ctx.layout.state, ctx.layout.runs, ctx.uid);
  const id = newContainerId();
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
  };
  const runc = new Runc(runcBin, ctx.layout.runcRoot);
  try {
    writeFileSync(join(dir, "config.json"), JSON.stringify(spec));
    writeFileSync(join(dir, "run.json"), JSON.stringify(record));
    const child = runc.run(id, dir);
    const stop = forwardSignals(child);
    const status = await new Promise<number>((resolve) => {
      child.on("error", () => resolve(125));
      child.on("close", (code, signal) => resolve(code ?? 128 + signalNumber(signal)));
    });
    stop();
    return status;
  } finally {
    // runc run removes its own state when the container exits; if runc itself was killed it may not have.
    if (existsSync(join(ctx.layout.runcRoot, id))) runc.delete(id);
    removeTree(dir);
  }
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
