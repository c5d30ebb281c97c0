/**
 * Resolving an image on a registry: tag -> manifest (through an index, for the platform) -> config
 * and layers. Blobs go through the cache (blobs.ts); layer downloads run a few at a time and each
 * layer is handed to the unpacker as soon as it is complete and verified, in order, so that
 * downloading and unpacking overlap.
 */
import { closeSync, createReadStream, readFileSync } from "node:fs";
import { formatBytes } from "../core/size.ts";
import { CmError } from "../errors.ts";
import type { Progress } from "../ui/progress.ts";
import { BlobStore } from "./blob-store.ts";
import { loadCredentialPlan, resolveCredentials } from "./credentials.ts";
import {
  type Descriptor,
  formatPlatform,
  type Index,
  type Manifest,
  type Platform,
  parseImageConfig,
  parseManifest,
  selectPlatform,
} from "./manifest.ts";
import { formatReference, manifestSelector, type Reference } from "./reference.ts";
import { Registry } from "./registry.ts";
import { type ResolvedImage, shortDigest } from "./unpack.ts";

export interface PullOptions {
  platform: Platform;
  /** true when the user named the platform (a single-platform image must then match it) */
  explicitPlatform: boolean;
  insecure: readonly string[];
  cache: string;
  progress: Progress;
  env: Record<string, string | undefined>;
  home: string;
  concurrency?: number;
}

/** Runs at most `n` of the given tasks at a time, in order of submission. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const queue: (() => void)[] = [];
  return (task) =>
    new Promise((resolve, reject) => {
      const run = () => {
        active++;
        task()
          .then(resolve, reject)
          .finally(() => {
            active--;
            queue.shift()?.();
          });
      };
      if (active < n) run();
      else queue.push(run);
    });
}

/**
 * An image from a registry, ready to unpack: its manifest and config read (the platform chosen
 * from an index), its layers downloading in the background (a few at a time, into the blob cache).
 */
export async function resolveRegistryImage(ref: Reference, opts: PullOptions): Promise<ResolvedImage> {
  const name = formatReference(ref);
  const abort = new AbortController();
  // The auth files are read now (a broken one is an error before any request); a credential helper runs only if the registry asks.
  const plan = loadCredentialPlan(opts.env, opts.home, ref.registry, ref.repository);
  const registry = new Registry(ref, {
    insecure: opts.insecure,
    credentials: plan.length === 0 ? undefined : () => resolveCredentials(plan, opts.env),
    fetch: (input, init) => fetch(input, { ...init, signal: abort.signal }),
  });
  const blobs = new BlobStore(opts.cache);
  opts.progress.phase(`resolving ${name}`);
  const { manifest, digest } = await resolveManifest(registry, blobs, ref, name, opts.platform);
  const config = await readConfig(registry, blobs, manifest, name, opts);
  const downloads = startDownloads(registry, blobs, manifest, name, opts, abort.signal);
  const n = manifest.layers.length;
  // Each layer is held open from the moment it is complete (a concurrent `cm cache prune` cannot
  // take it away); the stream closes it, or cancel() when the unpacking stopped before it.
  const opened = manifest.layers.map(() => false);
  return {
    description: `image:${name}`,
    digest,
    config,
    cancel: () => {
      abort.abort();
      downloads.forEach((p, i) => {
        if (!opened[i])
          p.then(
            (fd) => closeSync(fd),
            () => {},
          );
      });
    },
    layers: manifest.layers.map((layer, i) => ({
      what: `layer ${i + 1}/${n} (${shortDigest(layer.digest)}, ${formatBytes(layer.size)})`,
      size: layer.size,
      diffId: config.diffIds[i],
      open: async () => {
        opened[i] = true;
        const fd = await (downloads[i] as Promise<number>);
        return createReadStream("", { fd, highWaterMark: 256 * 1024 });
      },
    })),
  };
}

/** The image manifest for `platform` and its digest: through at most two levels of indexes. */
async function resolveManifest(
  registry: Registry,
  blobs: BlobStore,
  ref: Reference,
  name: string,
  platform: Platform,
): Promise<{ manifest: Manifest; digest: string }> {
  // The top manifest is always asked for (a tag moves); everything below it is by digest and cached.
  const top = await registry.manifest(manifestSelector(ref));
  let doc: Index | Manifest = parseManifest(top.bytes, top.contentType, name);
  let digest = top.digest;
  for (let depth = 0; doc.kind === "index"; depth++) {
    if (depth > 2) throw new CmError("bad-manifest", `${name}: image indexes nested too deeply`);
    const chosen = selectPlatform(doc, platform, name);
    const bytes = await manifestByDigest(registry, blobs, chosen);
    doc = parseManifest(bytes, chosen.mediaType, `${name} (${formatPlatform(platform)})`);
    digest = chosen.digest;
  }
  return { manifest: doc, digest };
}

/** The image config (through the blob cache); an image for another platform is refused. */
async function readConfig(registry: Registry, blobs: BlobStore, manifest: Manifest, name: string, opts: PullOptions) {
  const configFd = await blobs.ensureOpen(
    manifest.config,
    `the config of ${name}`,
    (o) => registry.blob(manifest.config.digest, o, name),
    () => {},
  );
  let configBytes: Buffer;
  try {
    configBytes = readFileSync(configFd);
  } finally {
    closeSync(configFd);
  }
  const config = parseImageConfig(configBytes, name);
  if (config.os && config.architecture) {
    const got: Platform = { os: config.os, architecture: config.architecture };
    if (got.os !== opts.platform.os || got.architecture !== opts.platform.architecture) {
      throw new CmError(
        "no-matching-platform",
        `${name} is an image for ${formatPlatform(got)} only, not ${formatPlatform(opts.platform)}`,
        {
          hint: opts.explicitPlatform
            ? "pick a platform the image offers"
            : "this host cannot run it; use an image built for this platform",
        },
      );
    }
  }
  return config;
}

/**
 * Starts the layer downloads, a few at a time, with progress per layer and in total; each promise
 * resolves to an open descriptor of the complete, verified blob.
 */
function startDownloads(
  registry: Registry,
  blobs: BlobStore,
  manifest: Manifest,
  name: string,
  opts: PullOptions,
  signal: AbortSignal,
): Promise<number>[] {
  const total = manifest.layers.reduce((s, l) => s + l.size, 0);
  const got = manifest.layers.map(() => 0);
  const active = new Set<number>();
  const show = () => {
    const sum = got.reduce((s, n) => s + n, 0);
    const parts = [...active].map(
      (i) => `layer ${i + 1}: ${formatBytes(got[i] as number)}/${formatBytes((manifest.layers[i] as Descriptor).size)}`,
    );
    opts.progress.detail(`downloaded ${formatBytes(sum)} of ${formatBytes(total)}${parts.length ? ` [${parts.join(", ")}]` : ""}`);
  };
  opts.progress.phase(`pulling ${name} (${manifest.layers.length} layers, ${formatBytes(total)})`);
  const limit = limiter(opts.concurrency ?? 3);
  const n = manifest.layers.length;
  return manifest.layers.map((layer, i) => {
    const what = `layer ${i + 1}/${n} (${shortDigest(layer.digest)}) of ${name}`;
    const p = limit(() => {
      if (signal.aborted) return Promise.reject(new CmError("aborted", "pull aborted"));
      active.add(i);
      return blobs
        .ensureOpen(
          layer,
          what,
          (offset) => registry.blob(layer.digest, offset, what),
          (bytes) => {
            got[i] = bytes;
            show();
          },
        )
        .finally(() => {
          active.delete(i);
          show();
        });
    });
    p.catch(() => {}); // observed when its layer's turn comes
    return p;
  });
}

async function manifestByDigest(registry: Registry, blobs: BlobStore, desc: Descriptor): Promise<Buffer> {
  if (blobs.has(desc)) {
    try {
      return readFileSync(blobs.path(desc.digest));
    } catch {
      // removed meanwhile (cm cache prune): asked for again below
    }
  }
  const m = await registry.manifest(desc.digest, desc.mediaType);
  if (m.bytes.length !== desc.size) {
    throw new CmError(
      "digest-mismatch",
      `the manifest ${shortDigest(desc.digest)} has ${m.bytes.length} bytes, not ${desc.size} as its index says`,
      {
        hint: "the registry sent different content than the index describes; nothing was created",
      },
    );
  }
  blobs.put(desc.digest, m.bytes);
  return m.bytes;
}
