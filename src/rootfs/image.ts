/**
 * image:REF — an image pulled from a registry that speaks the OCI distribution API (Docker Hub,
 * ghcr.io, quay.io, a local registry), with no daemon and no helper tool. Also the shared last step
 * of every image source (this file, oci-layout.ts, docker-archive.ts): unpack the layers into the
 * target and turn the image config into run defaults for the bundle.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { ImageDefaults } from "../core/spec/index.ts";
import { CmError } from "../errors.ts";
import { resolveInRoot } from "../host/fs.ts";
import { hostPlatform, type Platform, parsePlatform } from "../image/manifest.ts";
import { formatReference, parseReference, type Reference } from "../image/reference.ts";
import type { ResolvedImage } from "../image/unpack.ts";
import { ensureBase } from "./base.ts";
import { copyTree } from "./copy.ts";
import type { Materialized, RootfsSource, SourceContext, SourceOptions } from "./source.ts";

export function platformOption(opts: SourceOptions): { platform: Platform; explicit: boolean } {
  return opts.platform ? { platform: parsePlatform(opts.platform), explicit: true } : { platform: hostPlatform(), explicit: false };
}

const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]{1,5})?$/;

export function checkInsecure(hosts: readonly string[]): string[] {
  for (const h of hosts) {
    if (!HOST.test(h))
      throw new CmError("usage", `--insecure-registry ${JSON.stringify(h)} is not a HOST or HOST:PORT`, {
        hint: "for example --insecure-registry registry.lan:5000",
      });
  }
  return [...hosts];
}

function readInRoot(rootfs: string, path: string): string {
  try {
    return readFileSync(resolveInRoot(rootfs, path), "utf8");
  } catch {
    return "";
  }
}

/**
 * The base-cache key of an image's unpacked tree: its manifest digest (content-addressed, so never
 * stale), and whether it was unpacked rootless (everything owned by the user) or as root. Pure.
 */
export function imageBaseKey(digest: string, rootless: boolean): string {
  return `image-${digest.replace(/^sha256:/, "").slice(0, 24)}${rootless ? "-rootless" : ""}`;
}

/**
 * Fills target from a resolved image and returns its run defaults. An image with a manifest digest
 * is unpacked once into the base cache and copied from there (a later create of the same image
 * downloads and unpacks nothing: a local copy); one without (a docker-archive) is unpacked in place.
 */
export async function materializeImage(image: ResolvedImage, target: string, ctx: SourceContext): Promise<Materialized> {
  const { unpackImage } = await import("../image/unpack.ts");
  const unpack = (rootfs: string) => unpackImage(image, rootfs, { rootless: ctx.rootless, progress: ctx.progress });
  let made: Materialized = {};
  try {
    if (image.digest && /^sha256:[0-9a-f]{64}$/.test(image.digest)) {
      const key = imageBaseKey(image.digest, ctx.rootless);
      const base = await ensureBase(ctx, key, {
        what: `unpack ${image.description}`,
        source: image.description,
        fill: async (rootfs) => ({ tool: "cm", note: await unpack(rootfs) }),
      });
      ctx.progress.phase(`copying the unpacked image ${key}`);
      try {
        await copyTree(join(base.dir, "rootfs"), target);
      } finally {
        base.release();
      }
      const unpacked = base.made ? `(unpacked into the cache as ${key})` : `(from the cached image ${key})`;
      made = {
        ...(base.meta ? { sizeBytes: base.meta.sizeBytes } : {}),
        note: base.meta?.note ? `${unpacked} ${base.meta.note}` : unpacked,
      };
    } else {
      const note = await unpack(target);
      if (note) made = { note };
    }
  } finally {
    image.cancel?.();
  }
  const c = image.config;
  const defaults: ImageDefaults = {
    env: c.env,
    entrypoint: c.entrypoint,
    cmd: c.cmd,
    workingDir: c.workingDir,
    digest: image.digest,
  };
  if (c.user) {
    const { resolveUser } = await import("../image/user.ts");
    const ids = resolveUser(c.user, readInRoot(target, "/etc/passwd"), readInRoot(target, "/etc/group"));
    defaults.user = { text: c.user, ...ids };
    if (ctx.rootless && ids.uid !== 0) ctx.progress.phase(`the image runs as ${c.user}; rootless, cm maps only root, so it runs as root`);
  }
  return { ...made, image: defaults };
}

export class ImageSource implements RootfsSource {
  readonly ref: Reference;
  readonly description: string;
  readonly streams = true;
  private readonly platform: { platform: Platform; explicit: boolean };
  private readonly insecure: string[];

  constructor(text: string, opts: SourceOptions) {
    this.ref = parseReference(text);
    this.description = `image:${formatReference(this.ref)}`;
    this.platform = platformOption(opts);
    this.insecure = checkInsecure(opts.insecureRegistries ?? []);
  }

  check(): void {
    // Nothing local to check: the registry is asked in materialize().
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized> {
    const { resolveRegistryImage } = await import("../image/pull.ts");
    const image = await resolveRegistryImage(this.ref, {
      platform: this.platform.platform,
      explicitPlatform: this.platform.explicit,
      insecure: this.insecure,
      cache: ctx.cache,
      progress: ctx.progress,
      env: process.env,
      home: homedir(),
    });
    return materializeImage(image, target, ctx);
  }
}
