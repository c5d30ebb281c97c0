/**
 * Pushing an image cm built to a registry, with the OCI distribution API (distribution-spec,
 * "Push"), through the same client as pulls (registry.ts: auth, credential helpers, retries):
 *   HEAD  /v2/<name>/blobs/<digest>          the blob is there already: not sent again
 *   POST  /v2/<name>/blobs/uploads/          an upload session (202, Location)
 *   PUT   <location>?digest=<digest>         monolithic: the whole blob (blobs up to CHUNK bytes)
 *   PATCH <location>  Content-Range: a-b     chunked: one chunk at a time (larger blobs), each
 *                                            answer giving the next Location; then the closing PUT
 *   PUT   /v2/<name>/manifests/<tag>         the manifest last, once every blob is there
 * A chunk that fails after the client's retries is resumed from what the registry reports it holds
 * (GET <location> answers Range: 0-N), once per chunk.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { CmError } from "../errors.ts";
import type { BuiltImage } from "./image-out.ts";
import { MEDIA } from "./manifest.ts";
import type { Registry } from "./registry.ts";

/** Blobs larger than this are sent in chunks of this size (bytes). */
export const CHUNK = 16 * 1024 * 1024;

export interface PushReport {
  /** blobs sent */
  sent: number;
  /** blobs the registry had already */
  skipped: number;
  bytesSent: number;
}

function readChunk(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(length);
    let at = 0;
    while (at < length) {
      const n = readSync(fd, buf, at, length - at, offset + at);
      if (n === 0) throw new CmError("export-changed", `${file} became shorter while it was pushed`);
      at += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

function location(res: Response, what: string): string {
  const loc = res.headers.get("location");
  if (!loc)
    throw new CmError("registry-error", `${what}: the registry gave no upload location`, { hint: "is it an OCI distribution registry?" });
  return loc;
}

function withDigest(loc: string, base: string, digest: string): string {
  const url = new URL(loc, base);
  url.searchParams.set("digest", digest);
  return url.toString();
}

/** The offset after what the registry holds of an upload (its Range: 0-N answer), or 0. */
async function uploaded(reg: Registry, loc: string, what: string): Promise<{ next: number; loc: string }> {
  const res = await reg.request(loc, { allow: [204] }, what);
  await res.body?.cancel();
  const m = /^(?:bytes=)?0-(\d+)$/.exec(res.headers.get("range") ?? "");
  return { next: m ? Number(m[1]) + 1 : 0, loc: res.headers.get("location") ?? loc };
}

async function uploadBlob(
  reg: Registry,
  repo: string,
  blob: { digest: string; size: number; file?: string; data?: Buffer },
  what: string,
  progress: (bytes: number) => void,
): Promise<void> {
  const start = await reg.request(`/v2/${repo}/blobs/uploads/`, { method: "POST", headers: { "content-length": "0" } }, what);
  await start.body?.cancel();
  let loc = location(start, what);
  const read = (offset: number, length: number) =>
    blob.data ? blob.data.subarray(offset, offset + length) : readChunk(blob.file as string, offset, length);
  if (blob.size <= CHUNK) {
    const body = read(0, blob.size);
    const res = await reg.request(
      withDigest(loc, reg.base, blob.digest),
      { method: "PUT", body, headers: { "content-type": "application/octet-stream", "content-length": String(body.length) } },
      what,
    );
    await res.body?.cancel();
    progress(blob.size);
    return;
  }
  let offset = 0;
  let resumed = false;
  while (offset < blob.size) {
    const length = Math.min(CHUNK, blob.size - offset);
    const body = read(offset, length);
    let res: Response;
    try {
      res = await reg.request(
        loc,
        {
          method: "PATCH",
          body,
          headers: {
            "content-type": "application/octet-stream",
            "content-length": String(length),
            "content-range": `${offset}-${offset + length - 1}`,
          },
        },
        what,
      );
    } catch (err) {
      if (resumed || !(err instanceof CmError) || err.code === "unauthorized") throw err;
      resumed = true;
      ({ next: offset, loc } = await uploaded(reg, loc, what));
      continue;
    }
    await res.body?.cancel();
    loc = location(res, what);
    offset += length;
    resumed = false;
    progress(offset);
  }
  const res = await reg.request(withDigest(loc, reg.base, blob.digest), { method: "PUT", headers: { "content-length": "0" } }, what);
  await res.body?.cancel();
}

/**
 * Pushes `image` as `tag` to the registry's repository: each blob unless the registry has it, then
 * the manifest. `progress` reports the blob being sent and its bytes so far.
 */
export async function pushImage(
  reg: Registry,
  tag: string,
  image: BuiltImage,
  progress: (text: string) => void = () => {},
): Promise<PushReport> {
  const repo = reg.ref.repository;
  const name = `${reg.ref.registry}/${repo}`;
  const report: PushReport = { sent: 0, skipped: 0, bytesSent: 0 };
  const blobs = [
    ...image.layers.map((l, i) => ({ digest: l.digest, size: l.size, file: l.file, what: `layer ${i + 1}/${image.layers.length}` })),
    { digest: image.configDigest, size: image.config.length, data: image.config, what: "the image config" },
  ];
  for (const b of blobs) {
    const what = `${name}: ${b.what} (${b.digest.slice(7, 19)})`;
    const head = await reg.request(`/v2/${repo}/blobs/${b.digest}`, { method: "HEAD", allow: [404] }, what);
    await head.body?.cancel();
    if (head.status === 200) {
      report.skipped++;
      continue;
    }
    await uploadBlob(reg, repo, b, what, (n) => progress(`pushing ${b.what}: ${Math.floor((100 * n) / Math.max(b.size, 1))}%`));
    report.sent++;
    report.bytesSent += b.size;
  }
  const res = await reg.request(
    `/v2/${repo}/manifests/${tag}`,
    {
      method: "PUT",
      body: image.manifest,
      headers: { "content-type": MEDIA.ociManifest, "content-length": String(image.manifest.length) },
    },
    `${name}:${tag}: the manifest`,
  );
  await res.body?.cancel();
  return report;
}
