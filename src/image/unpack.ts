/**
 * What every image source (registry, OCI layout, docker-archive) resolves to, and the one place
 * where its layers are applied, in order, to a root filesystem: each layer's bytes (verified as
 * they stream) go to cm's one tar writer (tar/extract.ts) with whiteouts and its diff_id.
 */

import { createHash } from "node:crypto";
import { type Readable, Transform } from "node:stream";
import type { IdMap } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { extractTar } from "../tar/extract.ts";
import { addReport, emptyReport, xattrNote } from "../tar/xattrs.ts";
import type { Progress } from "../ui/progress.ts";
import type { ImageConfig } from "./manifest.ts";

export interface ImageLayer {
  /** "layer 2/3 (sha256:abcd…)" */
  what: string;
  /** compressed size, when known */
  size: number | undefined;
  diffId: string | undefined;
  /** the layer's bytes (compressed or not), verified by the time it ends */
  open(): Promise<Readable>;
}

export interface ResolvedImage {
  /** the canonical text recorded with the bundle */
  description: string;
  /** the manifest's digest, when there is one */
  digest: string | undefined;
  config: ImageConfig;
  layers: ImageLayer[];
  /** stops background work (downloads) after a failure */
  cancel?: () => void;
}

export function shortDigest(digest: string): string {
  return digest.slice(0, "sha256:".length + 12);
}

/** Applies the layers in order; resolves to a note for the final line (attributes not applied), if any. */
export async function unpackImage(
  image: ResolvedImage,
  rootfs: string,
  opts: { rootless: boolean; progress: Progress; ids?: IdMap | undefined },
): Promise<string | undefined> {
  if (image.config.diffIds.length !== 0 && image.config.diffIds.length !== image.layers.length) {
    throw new CmError(
      "bad-manifest",
      `${image.description}: the image config lists ${image.config.diffIds.length} layers, the manifest ${image.layers.length}`,
      {
        hint: "the image is damaged",
      },
    );
  }
  let skipped = 0;
  let unmapped = 0;
  let xattrs = emptyReport();
  for (const [i, layer] of image.layers.entries()) {
    const stream = await layer.open();
    opts.progress.phase(`unpacking ${layer.what}`);
    const what = `${layer.what} of ${image.description}`;
    const diffId = image.config.diffIds[i];
    const r = opts.ids
      ? await (await import("../rootfs/userns.ts")).extractInUserns(opts.ids, stream, rootfs, { what, whiteouts: true, diffId })
      : await extractTar(stream, rootfs, { rootless: opts.rootless, whiteouts: true, what, diffId });
    skipped += r.skipped.length;
    unmapped += r.unmapped;
    xattrs = addReport(xattrs, r.xattrs);
  }
  if (skipped > 0) opts.progress.phase(`skipped ${skipped} device node(s) and entries below /dev: runc provides /dev`);
  const notes = [xattrNote(xattrs)];
  if (opts.ids) notes.push((await import("../rootfs/userns.ts")).unmappedNote(unmapped, opts.ids));
  return notes.filter(Boolean).join(" ") || undefined;
}

/**
 * A pass-through that checks size and sha256 of what flows through it; at the end, a mismatch
 * is a stream error (so the layer's application fails before the bundle is committed).
 */
export function verifying(digest: string, size: number | undefined, what: string): Transform {
  const hash = createHash("sha256");
  let bytes = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const got = `sha256:${hash.digest("hex")}`;
      if ((size !== undefined && bytes !== size) || got !== digest) {
        cb(
          new CmError(
            "digest-mismatch",
            `${what} does not match its digest ${shortDigest(digest)}…${size !== undefined && bytes !== size ? ` (${bytes} bytes, not ${size})` : ""}`,
            {
              hint: "the image is damaged or was changed; nothing was created",
            },
          ),
        );
      } else cb();
    },
  });
}
