/**
 * cm create: build a bundle (rootfs + config.json) for the project, atomically.
 *
 *   1. planCreate: names, the project directory, cm.toml and the source, checked before touching
 *      disk (a source that streams then re-executes cm lean: host/lean.ts)
 *   2. take the bundle's lock (a concurrent create of the same bundle fails clearly), quiet gc
 *   3. buildBundle: materialise the rootfs into <project>/.<bundle>.creating-<pid>/rootfs, prepare
 *      it (APT's sandbox user for single-id rootless), make the spec, run cm.toml's post_create
 *      commands inside it (a failing one fails the create), measure it, write config.json
 *   4. commitBundle: rename the directory into place (an old bundle under --force goes aside)
 * A failure or an interrupt at any step leaves only a dot-directory that no command takes for a
 * bundle, and that the next create (or `cm gc`) removes; an interrupt is re-raised once cleaned up.
 */
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { userInfo } from "node:os";
import { join, resolve } from "node:path";
import { checkBundleName, displayName, hostnameFor } from "../core/names.ts";
import { defaultsFor, resolveCreate } from "../core/projectfile.ts";
import { bundleSpec } from "../core/runtime-spec/index.ts";
import { chooseUserns, type UsernsChoice, type UsernsMode } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { checkConfined } from "../host/confine.ts";
import { realPath, removeTree, writeFileAtomic } from "../host/fs.ts";
import { userIdMap } from "../host/idmap.ts";
import { stopChildren } from "../host/tools.ts";
import { processesRootedIn, processesWorkingIn, stopProcesses } from "../host/tree-users.ts";
import { prepareRootfs } from "../rootfs/prepare.ts";
import { treeSize } from "../rootfs/size.ts";
import { parseSource, type SourceContext } from "../rootfs/source.ts";
import { bundleDir, lockBundle, projectDir, SIZE_ANNOTATION } from "../store/bundles.ts";
import { leftovers } from "../store/leftovers.ts";
import { makeProgress, type Progress } from "../ui/progress.ts";
import type { Context } from "./context.ts";
import { type PostCreateHandle, runPostCreate } from "./postcreate.ts";
import { firstBundle, resolveProject } from "./project.ts";
import { loadProjectFile } from "./projectfile.ts";

/** Seconds between SIGTERM and SIGKILL for the post_create container a killed create left running. */
const POST_CREATE_GRACE_S = 10;

export interface CreateOptions {
  bundle: string;
  project?: string | undefined;
  /** undefined: cm.toml's, else debian:bookworm */
  from?: string | undefined;
  /** undefined: cm.toml's, else none */
  packages?: string[] | undefined;
  /** false: --no-install-recommends; undefined: cm.toml's, else true */
  installRecommends?: boolean | undefined;
  /** --mirror values (debian sources) */
  mirrors?: string[] | undefined;
  /** post_create: the host's proxy variables; undefined: cm.toml's, else true */
  httpProxy?: boolean | undefined;
  /** post_create: the host's certificate authorities; undefined: cm.toml's, else false */
  hostCa?: boolean | undefined;
  /** image sources: OS/ARCH[/VARIANT] */
  platform?: string | undefined;
  /** image sources: hosts that may be spoken to over plain HTTP */
  insecureRegistries?: string[] | undefined;
  /** rootless: range or single id mapping (core/userns.ts); undefined: cm.toml's, else range where available */
  userns?: UsernsMode | undefined;
  force: boolean;
  refresh: boolean;
  quiet: boolean;
}

/** What a create will do, decided and checked before anything is touched (reads only). */
interface CreatePlan {
  bundle: string;
  project: ReturnType<typeof resolveProject>;
  /** cm.toml's [create] under the flags: from, packages, post_create */
  file: ReturnType<typeof resolveCreate>;
  source: Awaited<ReturnType<typeof parseSource>>;
  sourceCtx: SourceContext;
  /** rootless id mapping of the new bundle (range: sourceCtx.ids too) */
  userns: UsernsChoice;
  /** <data>/<project>/: the bundle's final place, and its work directory */
  pdir: string;
  final: string;
  work: string;
  /** --force: an existing bundle is replaced */
  force: boolean;
}

export async function create(ctx: Context, opts: CreateOptions): Promise<void> {
  const progress = makeProgress({ quiet: opts.quiet });
  const plan = await planCreate(ctx, opts, progress);
  // Nothing done yet: a source that streams hundreds of megabytes through cm re-executes it lean.
  if (plan.source.streams) (await import("../host/lean.ts")).leanProcess();
  // After the lean re-execution (which starts this cm again from the top): said once.
  if (plan.userns.notice && !opts.quiet) process.stderr.write(`cm: warning: ${plan.userns.notice}\n`);
  mkdirSync(plan.pdir, { recursive: true, mode: 0o755 });
  const lock = lockBundle(plan.pdir, plan.bundle);
  // planCreate looked before the lock: a concurrent create may have made the bundle since
  if (!plan.force && existsSync(plan.final)) {
    lock.release();
    throw bundleExists(plan.bundle, plan.project.name);
  }
  (await import("./gc.ts")).quietGc(ctx); // interrupted creates and killed runs: cheap when there are none
  let postCreate: PostCreateHandle | undefined;
  // Interrupted: stop the tools and any post_create command at work; the failure they cause goes
  // through the normal clean-up below, and the signal is raised again at the end so cm dies of it.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal;
    progress.stop();
    postCreate?.abort();
    stopChildren();
  };
  const checkInterrupt = () => {
    if (interrupted) throw new CmError("interrupted", `create interrupted by ${interrupted}`);
  };
  for (const s of INTERRUPTS) process.on(s, onSignal);
  try {
    await removeLeftovers(ctx, plan);
    const made = await buildBundle(ctx, plan, progress, checkInterrupt, (h) => {
      postCreate = h;
    });
    checkInterrupt();
    commitBundle(plan);
    progress.done(
      `created bundle ${plan.bundle} of project ${displayName(plan.project.name)} from ${plan.source.description}${made?.note ? ` ${made.note}` : ""}`,
    );
  } catch (err) {
    progress.stop();
    removeTree(plan.work);
    throw err;
  } finally {
    lock.release();
    for (const s of INTERRUPTS) process.off(s, onSignal);
    if (interrupted) process.kill(process.pid, interrupted);
  }
}

/** Names, the project directory, cm.toml and the source, checked; nothing touched. */
async function planCreate(ctx: Context, opts: CreateOptions, progress: Progress): Promise<CreatePlan> {
  const bundle = checkBundleName(opts.bundle);
  const project = resolveProject(ctx, opts.project, { cwdIsProject: true });
  const projectFile = await loadProjectFile(ctx, project.path);
  const file = resolveCreate(defaultsFor(projectFile, bundle).create, opts, projectFile?.path);
  confineSource(file.from, project.path);
  const source = await parseSource(file.from, {
    packages: file.packages,
    recommends: file.recommends,
    mirrors: opts.mirrors,
    debianFlags: [...(opts.installRecommends === false ? ["--no-install-recommends"] : []), ...(opts.mirrors?.length ? ["--mirror"] : [])],
    platform: opts.platform,
    insecureRegistries: opts.insecureRegistries,
  });
  const userns = chooseBundleUserns(ctx, opts.userns, file.userns);
  const sourceCtx = {
    rootless: ctx.rootless,
    uid: ctx.uid,
    gid: ctx.gid,
    ids: userns.map,
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
  if (existsSync(final) && !opts.force) throw bundleExists(bundle, project.name);
  const pdir = projectDir(ctx.layout.data, project.key);
  const work = join(pdir, `.${bundle}.creating-${process.pid}`);
  return { bundle, project, file, source, sourceCtx, userns, pdir, final, work, force: opts.force };
}

/** What a killed create (or create --force) of this bundle left behind: its cm is gone, we hold the lock. */
async function removeLeftovers(ctx: Context, plan: CreatePlan): Promise<void> {
  for (const l of leftovers(ctx.layout.data, plan.project.key)) {
    if (l.bundle !== plan.bundle || l.live) continue;
    if (l.kind === "creating") {
      // A tree a live container uses is never removed under it: the post_create container of a
      // killed create is stopped first (it belongs to that create), like delete does.
      const rootfs = join(l.dir, "rootfs");
      await stopProcesses(() => processesRootedIn(rootfs), POST_CREATE_GRACE_S, rootfs);
      // the mmdebstrap, debootstrap or cp of a killed create may still be writing into it
      await stopProcesses(() => processesWorkingIn(l.dir), 0, l.dir);
      removeTree(l.dir);
    } else if (processesRootedIn(join(l.dir, "rootfs")).length === 0) {
      removeTree(l.dir); // an old bundle set aside whose containers have all exited
    }
  }
}

/** The work directory: rootfs materialised and prepared, post_create run, config.json written. */
async function buildBundle(
  ctx: Context,
  plan: CreatePlan,
  progress: Progress,
  checkInterrupt: () => void,
  onPostCreate: (h: PostCreateHandle) => void,
) {
  const { work, project, bundle, source } = plan;
  removeTree(work);
  mkdirSync(join(work, "rootfs"), { recursive: true, mode: 0o755 });
  const made = await source.materialize(join(work, "rootfs"), plan.sourceCtx);
  checkInterrupt();
  prepareRootfs(join(work, "rootfs"), { rootless: ctx.rootless, range: plan.userns.map !== undefined });
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
    ids: plan.userns.map,
    resolvConf: existsSync("/etc/resolv.conf"),
    arch: process.arch,
    image: made?.image,
  });
  const postCreate = plan.file.postCreate;
  await runPostCreate(
    ctx,
    {
      rootfs: join(work, "rootfs"),
      spec,
      commands: postCreate,
      projectKey: project.key,
      projectName: project.name,
      projectPath: project.path,
      bundle,
      progress,
      httpProxy: plan.file.httpProxy,
      hostCa: plan.file.hostCa,
      allowHosts: plan.file.allowHosts,
    },
    onPostCreate,
  );
  // A source that measured its tree says so; post_create commands change it, so measure again after them.
  const size = made?.sizeBytes !== undefined && postCreate.length === 0 ? made.sizeBytes : await treeSize(join(work, "rootfs"));
  spec.annotations[SIZE_ANNOTATION] = String(size);
  writeFileAtomic(join(work, "config.json"), `${JSON.stringify(spec, null, 2)}\n`);
  return made;
}

/** The commit point: the work directory renamed into place (an old bundle set aside first). */
function commitBundle(plan: CreatePlan): void {
  if (existsSync(plan.final)) {
    const old = join(plan.pdir, `.${plan.bundle}.deleting-${process.pid}`);
    renameSync(plan.final, old);
    renameSync(plan.work, plan.final);
    // A container still running on the old rootfs keeps it: it stays aside (cm list reports it)
    // until the next create or delete of this bundle finds it unused (delete stops the container).
    if (processesRootedIn(join(old, "rootfs")).length === 0) removeTree(old);
  } else {
    renameSync(plan.work, plan.final);
  }
}

const INTERRUPTS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function bundleExists(bundle: string, project: string): CmError {
  return new CmError("bundle-exists", `bundle ${JSON.stringify(bundle)} of project ${JSON.stringify(project)} already exists`, {
    hint: `run it with cm run${bundle === "default" ? "" : ` ${bundle}`}, or rebuild it with cm create ${bundle} --force`,
  });
}

/**
 * A dir: or tar: source in the project (cm.toml's `from = "dir:rootfs"`) must still
 * be in the project once symlinks are resolved: a container can replace it with a link to a host
 * directory (~/.ssh), which create would then copy into the bundle. A missing path is the
 * source's to report.
 */
function confineSource(from: string, projectPath: string): void {
  const m = /^(dir|tar):(.+)$/.exec(from);
  if (!m) return;
  // create's current directory is the project: a relative path (a flag's) is relative to it
  const lexical = resolve(projectPath, m[2] as string);
  let real: string;
  try {
    real = realPath(lexical);
  } catch (err) {
    if (err instanceof CmError) throw err;
    return;
  }
  checkConfined(lexical, real, projectPath, `source ${m[1]}:`);
}

/** The new bundle's id mapping: the flag, else cm.toml's, else range where the user has one (core/userns.ts). */
function chooseBundleUserns(ctx: Context, flag: UsernsMode | undefined, file: UsernsMode | undefined): UsernsChoice {
  if (!ctx.rootless) {
    if (flag !== undefined) {
      throw new CmError("usage", "--userns applies to rootless bundles: as root, cm runs containers without a user namespace", {
        hint: "drop --userns, or run cm create as your ordinary user",
      });
    }
    return { mode: "none" };
  }
  const { map, why } = userIdMap(ctx.uid, ctx.gid);
  return chooseUserns({ rootless: true, requested: flag ?? file, available: map, why, user: userInfo().username });
}
