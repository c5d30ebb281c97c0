import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import {
  hostPlatform,
  MEDIA,
  type Platform,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectPlatform,
} from "../../../src/image/manifest.ts";

const d = (c: string) => `sha256:${c.repeat(64)}`;
const j = (v: unknown) => Buffer.from(JSON.stringify(v));
const desc = (mediaType: string, digest: string, platform?: Platform) => ({
  mediaType,
  digest,
  size: 10,
  ...(platform ? { platform } : {}),
});

describe("manifests and indexes", () => {
  test("an OCI manifest with gzip, zstd and plain layers", () => {
    const m = parseManifest(
      j({
        schemaVersion: 2,
        mediaType: MEDIA.ociManifest,
        config: desc(MEDIA.ociConfig, d("c")),
        layers: [
          desc("application/vnd.oci.image.layer.v1.tar+gzip", d("1")),
          desc("application/vnd.oci.image.layer.v1.tar+zstd", d("2")),
          desc("application/vnd.oci.image.layer.v1.tar", d("3")),
        ],
      }),
      undefined,
      "x",
    );
    assert.equal(m.kind, "manifest");
    assert.deepEqual(m.kind === "manifest" && m.layers.map((l) => l.compression), ["gzip", "zstd", "none"]);
  });

  test("Docker schema 2, recognised from the Content-Type when the body has no mediaType", () => {
    const m = parseManifest(
      j({
        schemaVersion: 2,
        config: desc(MEDIA.dockerConfig, d("c")),
        layers: [desc("application/vnd.docker.image.rootfs.diff.tar.gzip", d("1"))],
      }),
      `${MEDIA.dockerManifest}; charset=utf-8`,
      "x",
    );
    assert.equal(m.kind, "manifest");
    const list = parseManifest(
      j({
        schemaVersion: 2,
        mediaType: MEDIA.dockerList,
        manifests: [desc(MEDIA.dockerManifest, d("a"), { os: "linux", architecture: "amd64" })],
      }),
      undefined,
      "x",
    );
    assert.equal(list.kind, "index");
  });

  test("a clear error for unknown media types, schema 1, bad digests, no layers, not JSON", () => {
    const cases: [Buffer, string | undefined, RegExp][] = [
      [
        j({
          schemaVersion: 2,
          mediaType: MEDIA.ociManifest,
          config: desc(MEDIA.ociConfig, d("c")),
          layers: [desc("application/x-squashfs", d("1"))],
        }),
        undefined,
        /unsupported layer media type "application\/x-squashfs"/,
      ],
      [j({ schemaVersion: 1, name: "x" }), "application/vnd.docker.distribution.manifest.v1+prettyjws", /schema 1/],
      [j({ mediaType: "application/x-weird" }), undefined, /unsupported manifest media type/],
      [
        j({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: { ...desc(MEDIA.ociConfig, "md5:abc") }, layers: [] }),
        undefined,
        /digest/,
      ],
      [j({ schemaVersion: 2, mediaType: MEDIA.ociManifest, config: desc(MEDIA.ociConfig, d("c")), layers: [] }), undefined, /no layers/],
      [Buffer.from("{"), undefined, /not valid JSON/],
      [j({ schemaVersion: 2, mediaType: MEDIA.ociIndex }), undefined, /no manifests/],
    ];
    for (const [bytes, ct, re] of cases) {
      assert.throws(
        () => parseManifest(bytes, ct, "img"),
        (e: unknown) => e instanceof CmError && re.test(e.message) && e.message.startsWith("img"),
        re.source,
      );
    }
  });

  test("image config: run defaults and diff ids, tolerant of missing parts", () => {
    const c = parseImageConfig(
      j({
        os: "linux",
        architecture: "amd64",
        config: { Env: ["A=1"], Cmd: ["sh"], Entrypoint: null, User: "1000:1000", WorkingDir: "/w" },
        rootfs: { diff_ids: [d("1")] },
      }),
      "x",
    );
    assert.deepEqual(c, {
      os: "linux",
      architecture: "amd64",
      env: ["A=1"],
      workingDir: "/w",
      user: "1000:1000",
      entrypoint: [],
      cmd: ["sh"],
      diffIds: [d("1")],
    });
    assert.deepEqual(parseImageConfig(j({}), "x").env, []);
  });
});

describe("platforms", () => {
  const index = {
    kind: "index" as const,
    manifests: [
      desc(MEDIA.ociManifest, d("1"), { os: "linux", architecture: "amd64" }),
      desc(MEDIA.ociManifest, d("2"), { os: "linux", architecture: "arm64", variant: "v8" }),
      desc(MEDIA.ociManifest, d("3"), { os: "linux", architecture: "arm", variant: "v6" }),
      desc(MEDIA.ociManifest, d("4"), { os: "linux", architecture: "arm", variant: "v7" }),
      desc(MEDIA.ociManifest, d("5"), { os: "unknown", architecture: "unknown" }),
    ],
  };
  test("parse", () => {
    assert.deepEqual(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm", variant: "v7" });
    assert.deepEqual(parsePlatform("arm64"), { os: "linux", architecture: "arm64" });
    for (const bad of ["", "a/b/c/d", "Linux/amd64", "linux/amd 64", "linux//x"]) assert.throws(() => parsePlatform(bad), CmError, bad);
  });
  test("host", () => {
    assert.deepEqual(hostPlatform("x64"), { os: "linux", architecture: "amd64" });
    assert.equal(hostPlatform("arm64").architecture, "arm64");
  });
  test("select: exact, arm64 without variant is v8, variants", () => {
    assert.equal(selectPlatform(index, { os: "linux", architecture: "amd64" }, "x").digest, d("1"));
    assert.equal(selectPlatform(index, { os: "linux", architecture: "arm64" }, "x").digest, d("2"));
    assert.equal(selectPlatform(index, { os: "linux", architecture: "arm64", variant: "v8" }, "x").digest, d("2"));
    assert.equal(selectPlatform(index, { os: "linux", architecture: "arm", variant: "v7" }, "x").digest, d("4"));
    assert.equal(selectPlatform(index, { os: "linux", architecture: "arm" }, "x").digest, d("3"));
  });
  test("no match: one line naming what is offered (not attestations)", () => {
    assert.throws(
      () => selectPlatform(index, { os: "linux", architecture: "s390x" }, "img"),
      (e: unknown) =>
        e instanceof CmError &&
        /img has no image for linux\/s390x/.test(e.message) &&
        /linux\/amd64, linux\/arm64\/v8/.test(e.hint ?? "") &&
        !/unknown/.test(e.hint ?? ""),
    );
    assert.throws(() => selectPlatform(index, { os: "linux", architecture: "arm", variant: "v5" }, "img"), CmError);
  });
});
