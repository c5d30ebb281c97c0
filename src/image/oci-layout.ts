/**
 * An OCI image layout directory (what skopeo, buildah and umoci write): oci-layout, index.json,
 * blobs/sha256/<hex>. The image is picked by its tag (the org.opencontainers.image.ref.name
 * annotation in index.json), or is the only one; an index is resolved for the platform. Every blob
 * is checked against its digest and size: manifests and configs before use, layers as they stream.
 */
import { createReadStream, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pipeline } from "node:stream";
import { formatBytes } from "../core/size.ts";
import { CmError, isErrno } from "../errors.ts";
import { sha256 } from "./blob-store.ts";
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
import { type ResolvedImage, shortDigest, verifying } from "./unpack.ts";

const REF_NAME = "org.opencontainers.image.ref.name";
const MAX_JSON = 4 * 1024 * 1024;

function badLayout(
  dir: string,
  why: string,
  hint = "give the path of an OCI image layout (skopeo copy IMAGE oci:DIR:TAG writes one)",
): CmError {
  return new CmError("bad-oci-layout", `${dir} ${why}`, { hint });
}

export class OciLayout {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  /** Throws unless dir looks like an OCI layout. */
  check(): void {
    let text: string;
    try {
      text = readFileSync(join(this.dir, "oci-layout"), "utf8");
    } catch (err) {
      if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) throw badLayout(this.dir, "is not an OCI image layout (no oci-layout file)");
      throw err;
    }
    let version: unknown;
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (typeof version !== "string" || !version.startsWith("1.")) throw badLayout(this.dir, "has an oci-layout file of an unknown version");
  }

  blobPath(digest: string): string {
    return join(this.dir, "blobs", "sha256", digest.slice("sha256:".length));
  }

  /** A small blob (manifest, config), read whole and verified. */
  readBlob(desc: Descriptor, what: string): Buffer {
    const path = this.blobPath(desc.digest);
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      throw badLayout(this.dir, `lacks the blob ${shortDigest(desc.digest)}… (${what})`, "the layout is incomplete; copy the image again");
    }
    if (size !== desc.size || size > MAX_JSON) {
      throw new CmError("digest-mismatch", `${what} in ${this.dir} has ${size} bytes, not ${desc.size}`, {
        hint: "the layout is damaged; copy the image again",
      });
    }
    const bytes = readFileSync(path);
    if (sha256(bytes) !== desc.digest) {
      throw new CmError("digest-mismatch", `${what} in ${this.dir} does not match its digest ${shortDigest(desc.digest)}…`, {
        hint: "the layout is damaged; copy the image again",
      });
    }
    return bytes;
  }

  resolve(tag: string | undefined, platform: Platform, explicitPlatform: boolean): ResolvedImage {
    this.check();
    let indexBytes: Buffer;
    try {
      indexBytes = readFileSync(join(this.dir, "index.json"));
    } catch {
      throw badLayout(this.dir, "has no index.json");
    }
    const name = `oci-layout:${this.dir}${tag ? `:${tag}` : ""}`;
    const top = parseManifest(indexBytes, "application/vnd.oci.image.index.v1+json", name);
    if (top.kind !== "index") throw badLayout(this.dir, "has an index.json that is not an image index");
    const tags = top.manifests.map((m) => m.annotations?.[REF_NAME]).filter((t): t is string => t !== undefined);
    let desc: Descriptor | undefined;
    if (tag !== undefined) {
      desc = top.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
      if (!desc)
        throw badLayout(
          this.dir,
          `has no image tagged ${JSON.stringify(tag)}`,
          tags.length ? `it has ${tags.join(", ")}` : "it has no tagged images",
        );
    } else if (top.manifests.length === 1) {
      desc = top.manifests[0];
    } else {
      throw badLayout(
        this.dir,
        `holds ${top.manifests.length} images`,
        `name one: oci-layout:${this.dir}:TAG (tags: ${tags.join(", ") || "none"})`,
      );
    }
    let d = desc as Descriptor;
    let doc: Index | Manifest = parseManifest(this.readBlob(d, "the manifest"), d.mediaType, name);
    for (let depth = 0; doc.kind === "index"; depth++) {
      if (depth > 2) throw new CmError("bad-manifest", `${name}: image indexes nested too deeply`);
      d = selectPlatform(doc, platform, name);
      doc = parseManifest(this.readBlob(d, "the manifest"), d.mediaType, name);
    }
    const manifest = doc;
    const config = parseImageConfig(this.readBlob(manifest.config, "the image config"), name);
    if (config.os && config.architecture && (config.os !== platform.os || config.architecture !== platform.architecture)) {
      throw new CmError(
        "no-matching-platform",
        `${name} is an image for ${config.os}/${config.architecture} only, not ${formatPlatform(platform)}`,
        {
          hint: explicitPlatform ? "pick a platform the image offers" : "this host cannot run it; use an image built for this platform",
        },
      );
    }
    const n = manifest.layers.length;
    return {
      description: name,
      digest: d.digest,
      config,
      layers: manifest.layers.map((layer, i) => {
        const what = `layer ${i + 1}/${n} (${shortDigest(layer.digest)}, ${formatBytes(layer.size)})`;
        return {
          what,
          size: layer.size,
          diffId: config.diffIds[i],
          open: async () => {
            const path = this.blobPath(layer.digest);
            try {
              statSync(path);
            } catch {
              throw badLayout(this.dir, `lacks the blob of ${what}`, "the layout is incomplete; copy the image again");
            }
            return pipeline(createReadStream(path, { highWaterMark: 256 * 1024 }), verifying(layer.digest, layer.size, what), () => {});
          },
        };
      }),
    };
  }
}

/** "PATH:TAG" or "PATH": the tag is split off when PATH:TAG itself is not a directory. */
export function splitLayoutArg(text: string, isDir: (p: string) => boolean): { path: string; tag: string | undefined } {
  const colon = text.lastIndexOf(":");
  if (colon <= 0 || isDir(text)) return { path: text, tag: undefined };
  const tag = text.slice(colon + 1);
  if (tag === "" || tag.includes("/")) return { path: text, tag: undefined };
  return { path: text.slice(0, colon), tag };
}
