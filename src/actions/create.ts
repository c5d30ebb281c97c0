/**
 * cm create: build a bundle (rootfs + config.json) for the project, atomically.
 *
 *   1. check names, the project directory and the source before touching disk
 *   2. take the bundle's lock (a concurrent create of the same bundle fails clearly)
 *   3. materialise the rootfs into <project>/.<bundle>.creating-<pid>/rootfs
 *   4. prepare it (APT's sandbox user for single-id rootless), measure it
 *   5. write config.json (pure generation), then rename the directory into place
 * A failure or an interrupt at any step leaves only a dot-directory that no command takes for a
 * bundle, and that the next create (or `cm gc`) removes.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { checkBundleName, hostnameFor } from "../core/names.ts";
import { bundleSpec } from "../core/spec/index.ts";
import { CmError } from "../errors.ts";
import { removeTree, writeFileAtomic } from "../host/fs.ts";
import { prepareRootfs } from "../rootfs/prepare.ts";
import { treeSize } from "../rootfs/size.ts";
import { parseSource } from "../rootfs/source.ts";
import { bundleDir, projectDir, SIZE_ANNOTATION } from "../store/bundles.ts";
import { tryLock } from "../store/lock.ts";
import { makeProgress } from "../ui/progress.ts";
import type { Context } from "./context.ts";
import { firstBundle, resolveProject } from "./project.ts";

export interface CreateOptions {
  bundle: string;
  project?: string | undefined;
  from: string;
  packages: string[];
  /** image sources: OS/ARCH[/VARIANT] */
  platform?: string | undefined;
  /** image sources: hosts that may be spoken to over plain HTTP */
  insecureRegistries?: string[] | undefined;
  force: boolean;
  refresh: boolean;
  quiet: boolean;
}

export async function create(ctx: Context, opts: CreateOptions): Promise<void> {
  const bundle = checkBundleName(opts.bundle);
  const project = resolveProject(ctx, opts.project);
  const source = await parseSource(opts.from, {
    packages: opts.packages,
    platform: opts.platform,
    insecureRegistries: opts.insecureRegistries,
  });
  const progress = makeProgress({ quiet: opts.quiet });
  const sourceCtx = {
    rootless: ctx.rootless,
    uid: ctx.uid,
    gid: ctx.gid,
    cache: ctx.layout.cache,
    refresh: opts.refresh,
    progress,
    data: ctx.layout.data,
    projectKey: project.key,
  };
  source.check(sourceCtx);

  const other = firstBundle(ctx, project.key);
  if (other && other.projectPath !== project.path) {
    throw new CmError(
      "project-mismatch",
      `project ${JSON.stringify(project.name)} already belongs to ${other.projectPath}, not to this directory ${project.path}`,
      { hint: "give this directory its own project name with --project NAME" },
    );
  }
  const final = bundleDir(ctx.layout.data, project.key, bundle);
  if (existsSync(final) && !opts.force) {
    throw new CmError("bundle-exists", `bundle ${JSON.stringify(bundle)} of project ${JSON.stringify(project.name)} already exists`, {
      hint: `run it with cm run${bundle === "default" ? "" : ` ${bundle}`}, or rebuild it with cm create ${bundle} --force`,
    });
  }

  const pdir = projectDir(ctx.layout.data, project.key);
  mkdirSync(pdir, { recursive: true, mode: 0o755 });
  const lock = tryLock(join(pdir, `.${bundle}.lock`));
  if (!("release" in lock)) {
    throw new CmError("bundle-busy", `bundle ${JSON.stringify(bundle)} is being created or deleted by another cm (pid ${lock.heldBy})`, {
      hint: "wait for it to finish, then try again",
    });
  }
  const work = join(pdir, `.${bundle}.creating-${process.pid}`);
  // Interrupted: remove the half-made bundle, then die of the same signal.
  const onSignal = (signal: NodeJS.Signals) => {
    progress.stop();
    removeTree(work);
    lock.release();
    process.kill(process.pid, signal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    removeTree(work);
    mkdirSync(join(work, "rootfs"), { recursive: true, mode: 0o755 });
    const made = await source.materialize(join(work, "rootfs"), sourceCtx);
    prepareRootfs(join(work, "rootfs"), { rootless: ctx.rootless });
    const size = made?.sizeBytes ?? (await treeSize(join(work, "rootfs")));
    const spec = bundleSpec({
      projectName: project.name,
      projectPath: project.path,
      bundle,
      hostname: hostnameFor(project.name),
      source: source.description,
      created: new Date().toISOString(),
      rootless: ctx.rootless,
      uid: ctx.uid,
      gid: ctx.gid,
      resolvConf: existsSync("/etc/resolv.conf"),
      image: made?.image,
    });
    spec.annotations[SIZE_ANNOTATION] = String(size);
    writeFileAtomic(join(work, "config.json"), `${JSON.stringify(spec, null, 2)}\n`);
    if (existsSync(final)) {
      const old = join(pdir, `.${bundle}.deleting-${process.pid}`);
      renameSync(final, old);
      renameSync(work, final);
      removeTree(old);
    } else {
      renameSync(work, final);
    }
    progress.done(`created bundle ${bundle} of project ${project.name} from ${source.description}${made?.note ? ` ${made.note}` : ""}`);
  } catch (err) {
    progress.stop();
    removeTree(work);
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    lock.release();
  }
}
