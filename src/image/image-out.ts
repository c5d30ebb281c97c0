/**
 * An image cm writes (cm export): its config and manifest as bytes (stable key order, so stable
 * digests), and the two on-disk forms:
 *   - an OCI image layout (image-spec/image-layout.md): blobs/sha256/<hex>, index.json with the
 *     tag in org.opencontainers.image.ref.name; an existing layout keeps its other images;
 *   - a docker-archive (what `docker save` writes and `podman load` / `docker load` read):
 *     manifest.json naming the config and the layer files, here blobs/sha256/<hex> as Docker 25+
 *     writes them (layers stay gzip-compressed: both loaders detect it).
 * Every file is written under a temporary name and renamed into place, index.json and the archive
 * last: a failure leaves the old layout or archive as it was.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  copyFileSync,
  createReadStream,
  createWriteStream,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { CmError, isErrno } from "../errors.ts";
import { END_OF_ARCHIVE, encodeHeader, padding } from "../tar/writer.ts";
import { MEDIA } from "./manifest.ts";

export const LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip";
export const CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
const REF_NAME = "org.opencontainers.image.ref.name";

export interface BuiltLayer {
  digest: string;
  diffId: string;
  size: number;
  /** the compressed blob on disk */
  file: string;
}

export interface BuiltImage {
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
  layers: BuiltLayer[];
}

/** The run settings an image config carries (image-spec/config.md, "config"). */
export interface ImageRunConfig {
  env: string[];
  entrypoint: string[];
  cmd: string[];
  user: string;
  workingDir: string;
  labels: Record<string, string>;
}

export function sha256(b: Buffer): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

/** Seconds since the epoch -> RFC 3339 (UTC, whole seconds). */
export function rfc3339(epoch: number): string {
  return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, "Z");
}

function sortedLabels(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * The image config and manifest for `layers` (in order, lowest first). Pure: the same input gives
 * the same bytes. `architecture` is the OCI/Go name (amd64, arm64).
 */
export function assembleImage(
  run: ImageRunConfig,
  layers: readonly Omit<BuiltLayer, "file">[],
  opts: { created: number; architecture: string; createdBy: string },
): { config: Buffer; configDigest: string; manifest: Buffer; manifestDigest: string } {
  const created = rfc3339(opts.created);
  const cfg: Record<string, unknown> = { Env: run.env };
  if (run.entrypoint.length > 0) cfg.Entrypoint = run.entrypoint;
  if (run.cmd.length > 0) cfg.Cmd = run.cmd;
  cfg.User = run.user;
  cfg.WorkingDir = run.workingDir;
  cfg.Labels = sortedLabels(run.labels);
  const config = Buffer.from(
    JSON.stringify({
      created,
      architecture: opts.architecture,
      os: "linux",
      config: cfg,
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created, created_by: opts.createdBy })),
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: LAYER_MEDIA_TYPE, digest: l.digest, size: l.size })),
    }),
  );
  return { config, configDigest, manifest, manifestDigest: sha256(manifest) };
}

function writeAtomic(path: string, data: Buffer | string): void {
  const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    const fd = openSync(tmp, "wx", 0o644);
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Puts a built blob at `dest` (renamed when on the same filesystem, else copied), unless it is there. */
function placeBlob(src: string, dest: string, size: number): void {
  try {
    if (statSync(dest).size === size) return;
  } catch {
    // not there yet
  }
  const tmp = `${dest}.tmp-${randomBytes(6).toString("hex")}`;
  try {
    copyFileSync(src, tmp);
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Writes `image` into the OCI layout at `dir` (created if missing, or added to), tagged `tag`:
 * an older entry with the same tag is replaced. Refuses a non-empty directory that is not a layout.
 */
export function writeOciLayout(dir: string, tag: string, image: BuiltImage): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    if (!isErrno(err, "ENOENT")) throw err;
  }
  const isLayout = entries.includes("oci-layout");
  if (!isLayout && entries.length > 0) {
    throw new CmError("export-target", `${dir} exists and is not an OCI image layout`, {
      hint: "give a new or empty directory, or an existing OCI layout to add the image to",
    });
  }
  const blobs = join(dir, "blobs", "sha256");
  mkdirSync(blobs, { recursive: true, mode: 0o755 });
  if (!isLayout) writeAtomic(join(dir, "oci-layout"), '{"imageLayoutVersion":"1.0.0"}');
  for (const l of image.layers) placeBlob(l.file, join(blobs, l.digest.slice(7)), l.size);
  writeAtomic(join(blobs, image.configDigest.slice(7)), image.config);
  writeAtomic(join(blobs, image.manifestDigest.slice(7)), image.manifest);
  let index: { schemaVersion: number; mediaType?: string; manifests: { annotations?: Record<string, string> }[] } = {
    schemaVersion: 2,
    mediaType: MEDIA.ociIndex,
    manifests: [],
  };
  if (existsSync(join(dir, "index.json"))) {
    try {
      index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
      if (!Array.isArray(index.manifests)) throw new Error("no manifests");
    } catch {
      throw new CmError("bad-oci-layout", `${dir} has an index.json that is not an image index`, {
        hint: "export into a new directory",
      });
    }
  }
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
  index.manifests.push({
    mediaType: MEDIA.ociManifest,
    digest: image.manifestDigest,
    size: image.manifest.length,
    annotations: { [REF_NAME]: tag },
  } as { annotations: Record<string, string> });
  writeAtomic(join(dir, "index.json"), JSON.stringify(index));
}

/** Writes `image` as a docker-archive at `file`, its RepoTags naming `ref` (normalised, e.g. localhost/x:y). */
export async function writeDockerArchive(file: string, ref: string, image: BuiltImage): Promise<void> {
  const mtime = 0;
  const members: { path: string; data?: Buffer; file?: string; size: number }[] = [];
  const configPath = `blobs/sha256/${image.configDigest.slice(7)}`;
  const layerPaths = image.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`);
  const manifestJson = Buffer.from(JSON.stringify([{ Config: configPath, RepoTags: [ref], Layers: layerPaths }]));
  members.push({ path: configPath, data: image.config, size: image.config.length });
  image.layers.forEach((l, i) => {
    members.push({ path: layerPaths[i] as string, file: l.file, size: l.size });
  });
  members.push({ path: "manifest.json", data: manifestJson, size: manifestJson.length });
  const dirs = ["blobs/", "blobs/sha256/"];
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${randomBytes(6).toString("hex")}.tmp`);
  async function* chunks(): AsyncGenerator<Buffer> {
    for (const d of dirs) yield encodeHeader({ path: d, type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime });
    for (const m of members) {
      yield encodeHeader({ path: m.path, type: "file", mode: 0o644, uid: 0, gid: 0, size: m.size, mtime });
      if (m.data) yield m.data;
      else for await (const c of createReadStream(m.file as string, { highWaterMark: 1024 * 1024 })) yield c as Buffer;
      yield padding(m.size);
    }
    yield END_OF_ARCHIVE;
  }
  try {
    await pipeline(chunks, createWriteStream(tmp, { mode: 0o644 }));
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
