/**
 * Manifests, indexes and image configs (OCI image spec v1.1 and Docker's schema 2), checked as
 * they are parsed, and platform selection. Pure: no I/O.
 */
import { CmError } from "../errors.ts";
import { isDigest } from "./reference.ts";

export const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/** The Accept header for a manifest request: every kind cm understands. */
export const MANIFEST_ACCEPT = [MEDIA.ociIndex, MEDIA.ociManifest, MEDIA.dockerList, MEDIA.dockerManifest].join(", ");

export type Compression = "gzip" | "zstd" | "none";

/** Layer media types and how each is compressed. */
const LAYER_TYPES: Record<string, Compression> = {
  "application/vnd.oci.image.layer.v1.tar": "none",
  "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
  "application/vnd.docker.image.rootfs.diff.tar": "none",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
};

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform | undefined;
  annotations?: Record<string, string> | undefined;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

export interface Index {
  kind: "index";
  manifests: Descriptor[];
}

export interface Layer extends Descriptor {
  compression: Compression;
}

export interface Manifest {
  kind: "manifest";
  config: Descriptor;
  layers: Layer[];
}

export interface ImageConfig {
  os: string | undefined;
  architecture: string | undefined;
  env: string[];
  workingDir: string | undefined;
  user: string | undefined;
  entrypoint: string[];
  cmd: string[];
  diffIds: string[];
}

function badManifest(what: string, why: string): CmError {
  return new CmError("bad-manifest", `${what}: ${why}`, { hint: "the image is damaged or of a kind cm does not know; try another tag" });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function descriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw badManifest(what, "a descriptor is not an object");
  const { mediaType, digest, size, platform, annotations } = v;
  if (typeof mediaType !== "string") throw badManifest(what, "a descriptor has no mediaType");
  if (typeof digest !== "string" || !isDigest(digest)) throw badManifest(what, `unsupported or malformed digest ${JSON.stringify(digest)}`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw badManifest(what, "a descriptor has no valid size");
  const d: Descriptor = { mediaType, digest, size };
  if (isObject(platform) && typeof platform.os === "string" && typeof platform.architecture === "string") {
    d.platform = {
      os: platform.os,
      architecture: platform.architecture,
      variant: typeof platform.variant === "string" ? platform.variant : undefined,
    };
  }
  if (isObject(annotations)) {
    d.annotations = Object.fromEntries(Object.entries(annotations).filter((e): e is [string, string] => typeof e[1] === "string"));
  }
  return d;
}

/**
 * Parses a manifest or an index. `contentType` is what the registry said (or the descriptor's
 * mediaType); the document's own mediaType wins when present, as registries sometimes label loosely.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined, what: string): Index | Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw badManifest(what, "the manifest is not valid JSON");
  }
  if (!isObject(doc)) throw badManifest(what, "the manifest is not a JSON object");
  const declared = typeof doc.mediaType === "string" ? doc.mediaType : (contentType?.split(";")[0]?.trim() ?? "");
  const type = declared || (Array.isArray(doc.manifests) ? MEDIA.ociIndex : isObject(doc.config) ? MEDIA.ociManifest : "");
  if (type === MEDIA.ociIndex || type === MEDIA.dockerList) {
    if (!Array.isArray(doc.manifests)) throw badManifest(what, "the index has no manifests list");
    return { kind: "index", manifests: doc.manifests.map((m) => descriptor(m, what)) };
  }
  if (type === MEDIA.ociManifest || type === MEDIA.dockerManifest) {
    if (doc.schemaVersion !== 2) throw badManifest(what, "only schemaVersion 2 manifests are supported");
    const config = descriptor(doc.config, what);
    if (!Array.isArray(doc.layers)) throw badManifest(what, "the manifest has no layers list");
    const layers = doc.layers.map((l) => {
      const d = descriptor(l, what);
      const compression = LAYER_TYPES[d.mediaType];
      if (compression === undefined) {
        throw new CmError("unsupported-media-type", `${what}: unsupported layer media type ${JSON.stringify(d.mediaType)}`, {
          hint: "cm unpacks tar layers (uncompressed, gzip or zstd); this image needs another tool",
        });
      }
      return { ...d, compression };
    });
    if (layers.length === 0) throw badManifest(what, "the image has no layers");
    return { kind: "manifest", config, layers };
  }
  if (
    type === "application/vnd.docker.distribution.manifest.v1+json" ||
    type === "application/vnd.docker.distribution.manifest.v1+prettyjws"
  ) {
    throw new CmError("unsupported-media-type", `${what}: Docker schema 1 manifests are not supported`, {
      hint: "schema 1 was retired in 2019; ask the registry for a schema 2 or OCI image",
    });
  }
  throw new CmError("unsupported-media-type", `${what}: unsupported manifest media type ${JSON.stringify(type)}`, {
    hint: "cm reads OCI image indexes and manifests and Docker schema 2 manifests and manifest lists",
  });
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

export function parseImageConfig(bytes: Buffer, what: string): ImageConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw badManifest(what, "the image config is not valid JSON");
  }
  if (!isObject(doc)) throw badManifest(what, "the image config is not a JSON object");
  const c = isObject(doc.config) ? doc.config : {};
  const rootfs = isObject(doc.rootfs) ? doc.rootfs : {};
  return {
    os: typeof doc.os === "string" ? doc.os : undefined,
    architecture: typeof doc.architecture === "string" ? doc.architecture : undefined,
    env: strings(c.Env),
    workingDir: typeof c.WorkingDir === "string" && c.WorkingDir !== "" ? c.WorkingDir : undefined,
    user: typeof c.User === "string" && c.User !== "" ? c.User : undefined,
    entrypoint: strings(c.Entrypoint),
    cmd: strings(c.Cmd),
    diffIds: strings(rootfs.diff_ids),
  };
}

/** Node's process.arch as an OCI architecture (GOARCH). */
export function hostPlatform(nodeArch: string = process.arch): Platform {
  const map: Record<string, Platform> = {
    x64: { os: "linux", architecture: "amd64" },
    arm64: { os: "linux", architecture: "arm64", variant: "v8" },
    arm: { os: "linux", architecture: "arm", variant: "v7" },
    ia32: { os: "linux", architecture: "386" },
    ppc64: { os: "linux", architecture: "ppc64le" },
    s390x: { os: "linux", architecture: "s390x" },
    riscv64: { os: "linux", architecture: "riscv64" },
  };
  return map[nodeArch] ?? { os: "linux", architecture: nodeArch };
}

/** "linux/arm64/v8", "linux/amd64", "arm64" (os defaults to linux). */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  const ok = /^[a-z0-9_]+$/;
  if (parts.length > 3 || parts.some((p) => !ok.test(p))) {
    throw new CmError("bad-platform", `invalid platform ${JSON.stringify(text)}`, {
      hint: "write it as OS/ARCH[/VARIANT], e.g. linux/arm64 or linux/arm/v7",
    });
  }
  if (parts.length === 1) return { os: "linux", architecture: parts[0] as string };
  return { os: parts[0] as string, architecture: parts[1] as string, variant: parts[2] };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ""}`;
}

/** arm64's only variant is v8, so a missing variant and "v8" are the same platform. */
function normVariant(p: Platform): string | undefined {
  if (p.architecture === "arm64" && (p.variant === undefined || p.variant === "v8")) return undefined;
  return p.variant;
}

/**
 * The manifest of an index for `want`: same os and architecture; when `want` names a variant it
 * must match, otherwise the host-like variant (or none) is preferred. Attestation manifests
 * ("unknown/unknown") never match.
 */
export function selectPlatform(index: Index, want: Platform, what: string): Descriptor {
  const candidates = index.manifests.filter(
    (m) =>
      m.platform &&
      m.platform.os === want.os &&
      m.platform.architecture === want.architecture &&
      (m.mediaType === MEDIA.ociManifest ||
        m.mediaType === MEDIA.dockerManifest ||
        m.mediaType === MEDIA.ociIndex ||
        m.mediaType === MEDIA.dockerList),
  );
  const wantVariant = normVariant(want);
  const exact = candidates.find((m) => normVariant(m.platform as Platform) === wantVariant);
  const chosen = exact ?? (want.variant === undefined ? candidates[0] : undefined);
  if (!chosen) {
    const offered = index.manifests
      .map((m) => (m.platform ? formatPlatform(m.platform) : undefined))
      .filter((p): p is string => p !== undefined && p !== "unknown/unknown");
    throw new CmError("no-matching-platform", `${what} has no image for ${formatPlatform(want)}`, {
      hint: offered.length
        ? `it offers ${[...new Set(offered)].join(", ")}; pick one with --platform (it must run on this host)`
        : "the image index lists no platforms",
    });
  }
  return chosen;
}
