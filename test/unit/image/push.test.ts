import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { BuiltImage } from "../../../src/image/image-out.ts";
import { CHUNK, pushImage } from "../../../src/image/push.ts";
import { parseReference } from "../../../src/image/reference.ts";
import { Registry } from "../../../src/image/registry.ts";

const digest = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/**
 * An in-memory registry behind a fake fetch: uploads by session (POST, PATCH with Content-Range,
 * PUT ?digest=), HEAD for blobs, PUT for manifests; `failPatch` answers that many PATCHes 500
 * after storing nothing (the client's retries, then cm's resume, must recover).
 */
function memoryRegistry(opts: { failPatch?: number } = {}) {
  const blobs = new Map<string, Buffer>();
  const sessions = new Map<string, Buffer>();
  const manifests = new Map<string, Buffer>();
  const log: string[] = [];
  let failPatch = opts.failPatch ?? 0;
  let n = 0;
  const f = (async (input: URL | string, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const body = init?.body ? Buffer.from(init.body as Uint8Array) : Buffer.alloc(0);
    log.push(`${method} ${url.pathname}`);
    const h = (init?.headers ?? {}) as Record<string, string>;
    if (method === "HEAD") return new Response(null, { status: blobs.has(url.pathname.split("/").at(-1) as string) ? 200 : 404 });
    if (method === "POST") {
      const id = `s${++n}`;
      sessions.set(id, Buffer.alloc(0));
      return new Response(null, { status: 202, headers: { location: `/v2/x/blobs/uploads/${id}` } });
    }
    const id = url.pathname.split("/").at(-1) as string;
    if (method === "PATCH") {
      if (failPatch > 0) {
        failPatch--;
        return new Response(null, { status: 500 });
      }
      const have = sessions.get(id) as Buffer;
      const [start] = (h["content-range"] as string).split("-").map(Number);
      if (start !== have.length) return new Response(null, { status: 416 });
      const now = Buffer.concat([have, body]);
      sessions.set(id, now);
      return new Response(null, { status: 202, headers: { location: `/v2/x/blobs/uploads/${id}`, range: `0-${now.length - 1}` } });
    }
    if (method === "GET" && url.pathname.includes("/uploads/")) {
      const have = sessions.get(id) as Buffer;
      return new Response(null, { status: 204, headers: { location: `/v2/x/blobs/uploads/${id}`, range: `0-${have.length - 1}` } });
    }
    if (method === "PUT" && url.pathname.includes("/manifests/")) {
      manifests.set(id, body);
      return new Response(null, { status: 201 });
    }
    if (method === "PUT") {
      const all = Buffer.concat([sessions.get(id) as Buffer, body]);
      if (digest(all) !== url.searchParams.get("digest")) return new Response(null, { status: 400 });
      blobs.set(digest(all), all);
      return new Response(null, { status: 201 });
    }
    return new Response(null, { status: 404 });
  }) as typeof fetch;
  return { fetch: f, blobs, manifests, log };
}

function image(dir: string, layerBytes: Buffer): BuiltImage {
  const file = join(dir, "layer");
  writeFileSync(file, layerBytes);
  const config = Buffer.from('{"config":{}}');
  const manifest = Buffer.from('{"schemaVersion":2}');
  return {
    config,
    configDigest: digest(config),
    manifest,
    manifestDigest: digest(manifest),
    layers: [{ digest: digest(layerBytes), diffId: digest(layerBytes), size: layerBytes.length, file }],
  };
}

test("small blobs go up in one PUT; a second push only asks HEAD and puts the manifest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-push-"));
  try {
    const reg = memoryRegistry();
    const r = new Registry(parseReference("127.0.0.1:5000/x:v1"), { insecure: [], credentials: undefined, push: true, fetch: reg.fetch });
    const img = image(dir, Buffer.from("a small layer"));
    const layer = img.layers[0] as BuiltImage["layers"][number];
    assert.deepEqual(await pushImage(r, "v1", img), { sent: 2, skipped: 0, bytesSent: layer.size + img.config.length });
    assert.equal(reg.log.filter((l) => l.startsWith("PATCH")).length, 0);
    assert.ok(reg.blobs.has(layer.digest));
    assert.deepEqual(reg.manifests.get("v1"), img.manifest);
    reg.log.length = 0;
    assert.deepEqual(await pushImage(r, "v1", img), { sent: 0, skipped: 2, bytesSent: 0 });
    assert.deepEqual(reg.log, [`HEAD /v2/x/blobs/${layer.digest}`, `HEAD /v2/x/blobs/${img.configDigest}`, "PUT /v2/x/manifests/v1"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a large blob goes up in chunks; a chunk that keeps failing is resumed from what the registry holds", async () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-push-"));
  try {
    const reg = memoryRegistry({ failPatch: 2 });
    const r = new Registry(parseReference("127.0.0.1:5000/x:v1"), {
      insecure: [],
      credentials: undefined,
      push: true,
      fetch: reg.fetch,
      attempts: 2,
      backoffMs: 1,
    });
    const big = Buffer.alloc(CHUNK * 2 + 1000, 7);
    const img = image(dir, big);
    const layer = img.layers[0] as BuiltImage["layers"][number];
    await pushImage(r, "v1", img);
    assert.ok(reg.blobs.has(layer.digest), "the whole blob arrived, verified by its digest");
    assert.ok(reg.log.includes("GET /v2/x/blobs/uploads/s1"), `resumed: ${reg.log.join(", ")}`);
    assert.equal(reg.log.filter((l) => l.startsWith("PATCH")).length, 5, "2 failed + 3 chunks");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
