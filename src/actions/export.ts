/**
 * cm export: a bundle as an OCI image.
 *
 *   1. resolve project and bundle; read cm.toml's [run] defaults (command, entrypoint, env, limits)
 *   2. build the layer(s) in a staging directory under cm's cache: the bundle's rootfs (ids as seen
 *      inside: image/layer.ts), and with --with-project the project directory at /project
 *   3. the image config (Env, WorkingDir, Entrypoint/Cmd, User, labels) and manifest
 *   4. write it: an OCI layout, a docker-archive, or a push (image/push.ts)
 *   5. with --kube FILE: a Pod manifest that runs it (image/kube.ts)
 *   6. print the manifest digest (or, with --json, digest, size and where it went)
 * Times in the image are clamped to SOURCE_DATE_EPOCH, by default the bundle's creation time: the
 * same bundle exported twice is the same image, byte for byte.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { defaultImageName, parseTarget } from "../core/export-target.ts";
import { checkBundleName } from "../core/names.ts";
import type { RunDefaults } from "../core/projectfile.ts";
import type { Network } from "../core/run/resources.ts";
import { IMAGE_ANNOTATION, imageProcess } from "../core/runtime-spec/index.ts";
import type { IdMapping } from "../core/runtime-spec/types.ts";
import { formatBytes } from "../core/size.ts";
import { CmError, isErrno } from "../errors.ts";
import { findCommand } from "../rootfs/command-lookup.ts";
import type { BundleInfo } from "../store/bundles.ts";
import { makeProgress } from "../ui/progress.ts";
import type { Context } from "./context.ts";
import { checkOwnership, requireBundle, resolveProject } from "./project.ts";
import { loadProjectFile } from "./projectfile.ts";

declare const CM_VERSION: string | undefined;

export interface ExportOptions {
  bundle: string;
  project?: string | undefined;
  /** the --to value */
  to: string;
  withProject: boolean;
  /** a file of .gitignore-style patterns: paths of the project left out with --with-project */
  excludeFrom?: string | undefined;
  /** write a Pod manifest here */
  kube?: string | undefined;
  /** run options for the Pod manifest (flags over cm.toml's) */
  network?: Network | undefined;
  memoryBytes?: number | undefined;
  cpus?: number | undefined;
  readOnly?: boolean | undefined;
  insecureRegistries: string[];
  json: boolean;
  quiet: boolean;
}

export interface ExportResult {
  digest: string;
  /** bytes of the image: manifest, config and compressed layers */
  size: number;
  config: string;
  layers: { digest: string; diffId: string; size: number }[];
  to: string;
  /** the image's name where it has one (docker-archive, image) */
  name?: string | undefined;
  /** pushes: blobs sent and skipped (already in the registry) */
  pushed?: { sent: number; skipped: number } | undefined;
}

/**
 * SOURCE_DATE_EPOCH (reproducible-builds.org: a decimal count of seconds) when set, else the
 * bundle's creation time, else 0. A bad value is an error, not ignored.
 */
export function sourceDateEpoch(env: Record<string, string | undefined>, created: string): number {
  const text = env.SOURCE_DATE_EPOCH;
  if (text !== undefined && text !== "") {
    if (!/^[0-9]{1,12}$/.test(text)) {
      throw new CmError("usage", `SOURCE_DATE_EPOCH=${JSON.stringify(text)} is not a number of seconds`, {
        hint: "set it to a whole number of seconds since 1970 (date +%s), or unset it",
      });
    }
    return Number(text);
  }
  const t = Date.parse(created);
  return Number.isFinite(t) ? Math.floor(t / 1000) : 0;
}

/** Entrypoint and Cmd as cm run would start them without a COMMAND (core/run/command.ts). */
function imageCommand(bundle: BundleInfo, d: RunDefaults, rootfs: string): { entrypoint: string[]; cmd: string[] } {
  const image = imageProcess(bundle.spec.annotations ?? {});
  const entrypoint = d.entrypoint === undefined ? (image?.entrypoint ?? []) : d.entrypoint === "" ? [] : [d.entrypoint];
  let cmd = d.command?.length ? d.command : d.entrypoint === undefined ? (image?.cmd ?? []) : [];
  if (entrypoint.length === 0 && cmd.length === 0) {
    const bash = findCommand(rootfs, "/bin/bash", { cwd: "/", path: "", mounts: [] });
    cmd = bash === "found" ? ["/bin/bash", "-l"] : ["/bin/sh", "-l"];
  }
  return { entrypoint, cmd };
}

// biome-ignore lint/complexity/noExcessiveLinesPerFunction: merged from the export branch; to split (issue 11)
export async function exportBundle(ctx: Context, opts: ExportOptions): Promise<ExportResult> {
  const bundleName = checkBundleName(opts.bundle);
  const target = parseTarget(opts.to);
  const project = resolveProject(ctx, opts.project, { cwdIsProject: false });
  const bundle = requireBundle(ctx, project, bundleName);
  const projectPath = checkOwnership(ctx, project, bundle);
  const file = await loadProjectFile(ctx, projectPath);
  const { defaultsFor } = file ? await import("../core/projectfile.ts") : { defaultsFor: undefined };
  const d: RunDefaults = defaultsFor ? defaultsFor(file, bundleName).run : {};
  const rootfs = join(bundle.dir, "rootfs");
  const epoch = sourceDateEpoch(process.env, bundle.created);
  const fileEnv = (d.env ?? []).flatMap((e) => (e.value === undefined ? [] : [{ name: e.name, value: e.value }]));
  const envMap = new Map<string, string>();
  for (const kv of bundle.spec.process.env) {
    const eq = kv.indexOf("=");
    envMap.set(eq < 0 ? kv : kv.slice(0, eq), kv);
  }
  for (const e of fileEnv) envMap.set(e.name, `${e.name}=${e.value}`);
  const { entrypoint, cmd } = imageCommand(bundle, d, rootfs);
  const workingDir = d.workdir ?? "/project";
  const user = bundle.spec.annotations?.[IMAGE_ANNOTATION.user] ?? `${bundle.spec.process.user.uid}:${bundle.spec.process.user.gid}`;
  const name =
    target.kind === "docker-archive"
      ? (target.ref ?? defaultImageName(bundle.projectName, bundleName))
      : target.kind === "image"
        ? target.ref
        : defaultImageName(bundle.projectName, target.tag === "latest" ? bundleName : target.tag);

  let exclude: ((rel: string, isDir: boolean) => boolean) | undefined;
  if (opts.excludeFrom !== undefined) {
    if (!opts.withProject) throw new CmError("usage", "export: --exclude-from applies to --with-project", { hint: "add --with-project" });
    let text: string;
    try {
      text = readFileSync(resolve(ctx.cwd, opts.excludeFrom), "utf8");
    } catch (err) {
      throw new CmError(
        "usage",
        `export: cannot read --exclude-from ${opts.excludeFrom}: ${isErrno(err, "ENOENT") ? "no such file" : (err as Error).message}`,
        {
          hint: "give a file of .gitignore-style patterns",
        },
      );
    }
    const { default: ignore } = await import("ignore");
    const ig = ignore().add(text);
    exclude = (rel, isDir) => ig.ignores(isDir ? `${rel}/` : rel);
  }

  // Checked before the (long) layer build: the registry reference and the kube settings.
  let reference: import("../image/reference.ts").Reference | undefined;
  if (target.kind === "image") {
    const { parseReference } = await import("../image/reference.ts");
    reference = parseReference(target.ref);
  }
  let kubeText: string | undefined;
  if (opts.kube !== undefined) {
    const { podManifest } = await import("../image/kube.ts");
    const { parseReference, formatReference } = await import("../image/reference.ts");
    kubeText = podManifest({
      name: `${bundle.projectName}-${bundleName}`,
      image: formatReference(parseReference(name)),
      projectPath,
      env: fileEnv,
      memoryBytes: opts.memoryBytes ?? d.memoryBytes,
      cpus: opts.cpus ?? d.cpus,
      pidsLimit: d.pidsLimit,
      readOnly: opts.readOnly ?? d.readOnly,
      network: opts.network ?? d.network ?? "host",
      workingDir,
      volumes: d.volumes ?? [],
    });
  }

  const progress = makeProgress({ quiet: opts.quiet || opts.json });
  const staging = join(ctx.layout.cache, "export", `.${randomBytes(6).toString("hex")}`);
  mkdirSync(staging, { recursive: true, mode: 0o700 });
  try {
    const [{ writeLayer, idInside }, out, { hostPlatform }] = await Promise.all([
      import("../image/layer.ts"),
      import("../image/image-out.ts"),
      import("../image/manifest.ts"),
    ]);
    const linux = bundle.spec.linux ?? {};
    const trees: import("../image/layer.ts").LayerTree[][] = [
      [{ dir: rootfs, at: "", uid: (id) => idInside(id, linux.uidMappings), gid: (id) => idInside(id, linux.gidMappings) }],
    ];
    if (opts.withProject) trees.push([{ dir: projectPath, at: "project", uid: () => 0, gid: () => 0, exclude }]);
    const layers: import("../image/image-out.ts").BuiltLayer[] = [];
    // A rootless bundle whose files belong to a subordinate range too (more than the user's own id
    // mapped): only root of a user namespace with that mapping can read them all, and sees them
    // with the ids they have inside. cm re-executes itself there (cm __layer) for the rootfs tar.
    const ranged = ctx.rootless && ((linux.uidMappings?.length ?? 0) > 1 || (linux.gidMappings?.length ?? 0) > 1);
    for (const [i, t] of trees.entries()) {
      const what = i === 0 ? `bundle ${bundleName}'s root filesystem` : "the project";
      progress.phase(`archiving ${what}`);
      const file = join(staging, `layer-${i}`);
      const detail = (bytes: number, entries: number) => progress.detail(`${formatBytes(bytes)}, ${entries} entries`);
      const r = i === 0 && ranged ? await layerInUserns(ctx, rootfs, epoch, file, linux, detail) : await writeLayer(t, epoch, file, detail);
      layers.push({ digest: r.digest, diffId: r.diffId, size: r.size, file });
    }
    const labels: Record<string, string> = {
      "dev.cm.version": typeof CM_VERSION === "string" ? CM_VERSION : "0.0.0-dev",
      "dev.cm.source": bundle.source,
      "dev.cm.project": bundle.projectName,
      "dev.cm.bundle": bundleName,
      "org.opencontainers.image.created": out.rfc3339(epoch),
    };
    const assembled = out.assembleImage({ env: [...envMap.values()], entrypoint, cmd, user, workingDir, labels }, layers, {
      created: epoch,
      architecture: hostPlatform().architecture,
      createdBy: `cm export (${bundle.source})`,
    });
    const image = { ...assembled, layers };
    const size = image.manifest.length + image.config.length + layers.reduce((n, l) => n + l.size, 0);
    let pushed: ExportResult["pushed"];
    let where: string;
    if (target.kind === "oci-layout") {
      progress.phase(`writing ${target.dir}`);
      out.writeOciLayout(resolve(ctx.cwd, target.dir), target.tag, image);
      where = `oci-layout:${target.dir}:${target.tag}`;
    } else if (target.kind === "docker-archive") {
      progress.phase(`writing ${target.file}`);
      await out.writeDockerArchive(resolve(ctx.cwd, target.file), name, image);
      where = `docker-archive:${target.file}`;
    } else {
      const ref = reference as import("../image/reference.ts").Reference;
      const [{ Registry }, { loadCredentialPlan, resolveCredentials }, { pushImage }, { formatReference }] = await Promise.all([
        import("../image/registry.ts"),
        import("../image/credentials.ts"),
        import("../image/push.ts"),
        import("../image/reference.ts"),
      ]);
      const plan = loadCredentialPlan(process.env, ctx.home, ref.registry, ref.repository);
      const registry = new Registry(ref, {
        insecure: opts.insecureRegistries,
        credentials: plan.length === 0 ? undefined : () => resolveCredentials(plan, process.env),
        push: true,
      });
      progress.phase(`pushing to ${formatReference(ref)}`);
      const report = await pushImage(registry, ref.tag ?? "latest", image, (t) => progress.detail(t));
      pushed = { sent: report.sent, skipped: report.skipped };
      where = `image:${formatReference(ref)}`;
    }
    if (kubeText !== undefined && opts.kube !== undefined) writeFileSync(resolve(ctx.cwd, opts.kube), kubeText, { mode: 0o644 });
    const result: ExportResult = {
      digest: image.manifestDigest,
      size,
      config: image.configDigest,
      layers: layers.map((l) => ({ digest: l.digest, diffId: l.diffId, size: l.size })),
      to: where,
      name: target.kind === "oci-layout" ? undefined : name,
      pushed,
    };
    if (opts.json || opts.quiet) {
      progress.stop();
      process.stdout.write(opts.json ? `${JSON.stringify(result)}\n` : `${image.manifestDigest}\n`);
    } else {
      const skipped = pushed && pushed.skipped > 0 ? `, ${pushed.skipped} of ${pushed.sent + pushed.skipped} blobs already there` : "";
      progress.done(`exported bundle ${bundleName} to ${where} (${formatBytes(size)}${skipped})`);
      process.stdout.write(`${image.manifestDigest}\n`);
    }
    return result;
  } catch (err) {
    progress.stop();
    throw err;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/** The rootfs layer made by `cm __layer` as root of a user namespace with the bundle's mappings. */
async function layerInUserns(
  ctx: Context,
  rootfs: string,
  epoch: number,
  file: string,
  linux: { uidMappings?: IdMapping[] | undefined; gidMappings?: IdMapping[] | undefined },
  progress: (bytes: number, entries: number) => void,
): Promise<import("../image/layer.ts").LayerResult> {
  const [{ spawn }, { writeLayerFromTar }, { stderrTail, exitStatus, lastLine }, { inMappedUserns }] = await Promise.all([
    import("node:child_process"),
    import("../image/layer.ts"),
    import("../host/tools.ts"),
    import("../host/idmap.ts"),
  ]);
  const [unshare, args] = inMappedUserns(linux, ctx.uid, ctx.gid, process.execPath, [
    "--",
    process.argv[1] as string,
    "__layer",
    rootfs,
    String(epoch),
  ]);
  const child = spawn(unshare, args, { stdio: ["ignore", "pipe", "pipe"] });
  const tail = stderrTail(child);
  const status = exitStatus(child);
  try {
    const counts = { entries: 0 };
    const result = await writeLayerFromTar(child.stdout as import("node:stream").Readable, file, counts, progress);
    if ((await status) !== 0) throw new Error("failed");
    return result;
  } catch (err) {
    child.kill("SIGKILL");
    await status.catch(() => {});
    const why = lastLine(tail());
    if (err instanceof CmError && !why) throw err;
    const line = why.replace(/^cm: /, "");
    throw new CmError("export-userns", `cannot read bundle's root filesystem in its user namespace: ${line || (err as Error).message}`, {
      hint: "check that newuidmap/newgidmap (uidmap) are installed and /etc/subuid, /etc/subgid still give you the bundle's ranges",
    });
  }
}
