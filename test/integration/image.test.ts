/**
 * cm create --from image:REF / oci-layout:PATH[:TAG] / docker-archive:PATH against real registries
 * on loopback (Debian's docker-registry, plain and with htpasswd; a bearer-token proxy with blob
 * storage redirects and injected faults: see test/helpers/registry.ts), with images built by the
 * test itself (test/helpers/oci.ts) from the busybox fixture, so that they run. Root and rootless.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  assertNothingLeft,
  cmAsync,
  finished,
  fixtures,
  isOneLineError,
  type Result,
  type Sandbox,
  sandbox,
  USERS,
  waitFor,
} from "../helpers/cm.ts";
import { type Descriptor, digestOf, type ImageSpec, Layout, tar, treeEntries } from "../helpers/oci.ts";
import { push, pushLayout, pushRaw, type Registry, startRegistry, startTokenProxy, type TokenProxy } from "../helpers/registry.ts";

const ALICE = { user: "alice", password: "s3cret-pw" };
let plain: Registry;
let basic: Registry;
let anon: TokenProxy;
let authed: TokenProxy;
let layoutDir: string;
let archive: string;
/** a layer (gzip) with content unique to this run, so the first pull of it is cold */
let uniqueTag: string;

function buildImages(dir: string): void {
  const l = new Layout(dir);
  const base = { entries: treeEntries(fixtures.busybox) };
  const multiSpec = (middle: "zstd" | "gzip"): ImageSpec => ({
    layers: [
      base,
      {
        compression: middle,
        entries: [
          { path: "etc/removed.txt", content: "lower\n" },
          { path: "opt", type: "dir" },
          { path: "opt/dir", type: "dir" },
          { path: "opt/dir/lower-a", content: "a\n" },
          { path: "opt/dir/lower-b", content: "b\n" },
          { path: "opt/keep", content: "kept\n" },
          { path: "opt/gone-dir", type: "dir" },
          { path: "opt/gone-dir/x", content: "x\n" },
        ],
      },
      {
        compression: "none",
        entries: [
          { path: "etc/.wh.removed.txt" },
          { path: "opt/.wh.gone-dir" },
          { path: "opt/dir", type: "dir" },
          { path: "opt/dir/upper", content: "upper\n" },
          { path: "opt/dir/.wh..wh..opq" },
          { path: "opt/hard", type: "hardlink", linkname: "opt/keep" },
          { path: "opt/link", type: "symlink", linkname: "/opt/keep" },
          { path: "dev/null", type: "char" },
          { path: `opt/${"long-name-".repeat(12)}`, content: "long\n" },
        ],
      },
    ],
    config: {
      Env: ["PATH=/bin:/usr/bin", "GREETING=hello-from-image"],
      Entrypoint: ["sh", "-c"],
      Cmd: ['echo "default command: $GREETING in $(pwd)"'],
      WorkingDir: "/opt",
      User: "root",
    },
  });
  l.tag(l.image(multiSpec("zstd")), "multi");
  // Docker archives cannot hold zstd layers
  l.tag(l.image(multiSpec("gzip")), "multi-gz");
  const amd = l.image({ layers: [base, { entries: [{ path: "platform", content: "amd64\n" }] }] });
  const arm = l.image({ layers: [base, { entries: [{ path: "platform", content: "arm64\n" }] }], architecture: "arm64", variant: "v8" });
  l.tag(l.index([amd, arm]), "multiarch");
  l.tag(l.index([arm], "docker"), "armlist");
  l.tag(arm, "armonly");
  l.tag(l.image({ layers: [base, { entries: [{ path: "docker-format", content: "yes\n" }] }], format: "docker" }), "docker");
  l.tag(l.image({ layers: [base, { entries: [{ path: "unique", content: randomBytes(32).toString("hex") }] }] }), "unique");
  l.tag(l.image({ layers: [base, { entries: [{ path: "../escaped", content: "out\n" }] }] }), "dotdot");
  l.tag(l.image({ layers: [base, { entries: [{ path: "/abs", content: "abs\n" }] }] }), "absolute");
  uniqueTag = "unique";
}

/** An OCI manifest whose only layer has a media type cm does not know. */
async function pushUnknownMediaType(host: string): Promise<void> {
  const layer = Buffer.from("not a tar");
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [digestOf(layer)] } }),
  );
  const mediaType = "application/vnd.oci.image.manifest.v1+json";
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: digestOf(config), size: config.length },
      layers: [{ mediaType: "application/vnd.example.squashfs", digest: digestOf(layer), size: layer.length }],
    }),
  );
  await pushRaw(host, "weird", "v1", manifest, mediaType, [layer, config]);
}

before(async () => {
  const run = process.env.CM_TEST_RUN as string;
  layoutDir = join(run, `oci-${process.pid}`);
  buildImages(layoutDir);
  execFileSync("chmod", ["-R", "a+rX", layoutDir]);
  archive = join(run, `docker-archive-${process.pid}.tar`);
  execFileSync("skopeo", ["copy", "--quiet", `oci:${layoutDir}:multi-gz`, `docker-archive:${archive}:cm/multi:latest`]);
  chmodSync(archive, 0o644);
  plain = await startRegistry();
  basic = await startRegistry({ htpasswd: ALICE });
  anon = await startTokenProxy(plain.host);
  authed = await startTokenProxy(plain.host, { creds: ALICE });
  for (const tag of ["multi", "armonly", uniqueTag, "dotdot", "absolute"]) push(layoutDir, tag, `${plain.host}/test/${tag}:v1`);
  push(layoutDir, "multiarch", `${plain.host}/test/multiarch:v1`, { all: true });
  // skopeo's oci: transport holds only OCI media types: Docker-format images go up by hand
  for (const tag of ["docker", "armlist"]) await pushLayout(plain.host, layoutDir, tag, `test/${tag}`, "v1");
  push(layoutDir, "multi", `${basic.host}/private/multi:v1`, { creds: `${ALICE.user}:${ALICE.password}` });
  await pushUnknownMediaType(plain.host);
});

after(async () => {
  await Promise.all([anon?.stop(), authed?.stop()]);
  await Promise.all([plain?.stop(), basic?.stop()]);
});

/**
 * cm, run without blocking this process: the token proxy and the blob storage run in it and must
 * keep answering while cm runs.
 */
function cm(sb: Sandbox, args: string[], opts: { env?: Record<string, string> } = {}): Promise<Result> {
  return cmAsync(sb, args, opts.env);
}

/** After a SIGKILL, only the dead process' work directory and lock may remain: no bundle. */
function assertNothingLeftButLocks(sb: Sandbox): void {
  const data = sb.env.CM_HOME as string;
  if (!existsSync(data)) return;
  for (const key of readdirSync(data)) {
    const bundles = readdirSync(join(data, key)).filter((n) => !n.startsWith("."));
    assert.deepEqual(bundles, [], `bundles in ${join(data, key)}`);
  }
}

/** The layers of a tag in the test's OCI layout, as its manifest lists them. */
function layersOf(tag: string): Descriptor[] {
  const index = JSON.parse(readFileSync(join(layoutDir, "index.json"), "utf8")) as { manifests: Descriptor[] };
  const ref = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag) as Descriptor;
  return (JSON.parse(readFileSync(join(layoutDir, "blobs/sha256", ref.digest.slice(7)), "utf8")) as { layers: Descriptor[] }).layers;
}

function authFile(sb: Sandbox, name: string, registry: string): string {
  const dir = sb.mkdir("auth", name);
  const file = join(dir, "auth.json");
  const auth = Buffer.from(`${ALICE.user}:${ALICE.password}`).toString("base64");
  writeFileSync(file, JSON.stringify({ auths: { [registry]: { auth } } }));
  chownSync(file, sb.uid, sb.gid);
  return file;
}

function rootfsOf(sb: Sandbox, bundle = "default"): string {
  const data = sb.env.CM_HOME as string;
  const [key] = readdirSync(data);
  return join(data, key as string, bundle, "rootfs");
}

function configOf(
  sb: Sandbox,
  bundle = "default",
): { process: { args: string[]; env: string[]; cwd: string }; annotations: Record<string, string> } {
  return JSON.parse(readFileSync(join(rootfsOf(sb, bundle), "..", "config.json"), "utf8"));
}

for (const as of USERS) {
  describe(`cm create --from image (${as})`, () => {
    test("a multi-layer image from a plain loopback registry: whiteouts, opaque dirs, links; the image's command and env are the run defaults", async () => {
      const sb = sandbox(as);
      const r = await cm(sb, ["create", "--from", `image:${plain.host}/test/multi:v1`]);
      assert.equal(r.status, 0, r.stderr);
      const def = await cm(sb, ["run"]);
      assert.equal(def.status, 0, def.stderr);
      assert.equal(def.stdout, "default command: hello-from-image in /project\n");
      // The image's entrypoint is sh -c: ARGS replace its Cmd, so one ARG is the script.
      const check = await cm(sb, [
        "run",
        "--",
        "ls /opt/dir; test -e /etc/removed.txt || echo removed-gone; test -e /opt/gone-dir || echo dir-gone; cat /opt/hard /opt/link /opt/long-name-*",
      ]);
      assert.equal(check.status, 0, check.stderr);
      assert.equal(check.stdout, "upper\nremoved-gone\ndir-gone\nkept\nkept\nlong\n");
      const cfg = configOf(sb);
      assert.equal(cfg.process.cwd, "/project");
      assert.ok(cfg.process.env.includes("GREETING=hello-from-image"));
      assert.ok(cfg.process.env.includes("PATH=/bin:/usr/bin"));
      assert.equal(cfg.annotations["dev.cm.image.workdir"], "/opt");
      assert.match(cfg.annotations["dev.cm.image.digest"] ?? "", /^sha256:[0-9a-f]{64}$/);
      assert.equal(cfg.annotations["dev.cm.source"], `image:${plain.host}/test/multi:v1`);
      // A file written in the container lands in the project owned by the invoking user.
      assert.equal((await cm(sb, ["run", "--", "touch /project/made"])).status, 0);
      assert.equal(existsSync(join(sb.project, "made")), true);
    });

    test("bearer tokens (anonymous, scoped to the repository), blobs redirected to storage; a second pull downloads no blob", async () => {
      const sb = sandbox(as);
      anon.log.length = 0;
      anon.tokens.length = 0;
      const r = await cm(sb, ["create", "--from", `image:${anon.host}/test/${uniqueTag}:v1`]);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(
        anon.tokens.some((t) => t.scope.split(" ").includes(`repository:test/${uniqueTag}:pull`) && t.user === undefined),
        JSON.stringify(anon.tokens),
      );
      assert.ok(
        anon.log.some((l) => l.startsWith("STORAGE")),
        anon.log.join("\n"),
      );
      assert.equal((await cm(sb, ["run", "--", "cat", "/unique"])).status, 0);
      anon.log.length = 0;
      const again = await cm(sb, ["create", "--force", "--from", `image:${anon.host}/test/${uniqueTag}:v1`]);
      assert.equal(again.status, 0, again.stderr);
      assert.deepEqual(
        anon.log.filter((l) => l.startsWith("STORAGE") || l.includes("/blobs/")),
        [],
      );
    });

    test("bearer tokens with credentials from REGISTRY_AUTH_FILE; without them a one-line error", async () => {
      const sb = sandbox(as);
      const denied = await cm(sb, ["create", "--from", `image:${authed.host}/test/multi:v1`]);
      assert.equal(denied.status, 125);
      assert.ok(isOneLineError(denied.stderr), denied.stderr);
      assert.match(denied.stderr, /access denied/);
      assertNothingLeft(sb);
      authed.tokens.length = 0;
      const file = authFile(sb, "token", authed.host);
      const r = await cm(sb, ["create", "--from", `image:${authed.host}/test/multi:v1`], { env: { REGISTRY_AUTH_FILE: file } });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(authed.tokens.some((t) => t.user === "alice"));
      assert.equal((await cm(sb, ["run"])).status, 0);
    });

    test("basic auth (htpasswd registry) with credentials from ~/.docker/config.json; wrong ones refused", async () => {
      const sb = sandbox(as);
      const denied = await cm(sb, ["create", "--from", `image:${basic.host}/private/multi:v1`]);
      assert.equal(denied.status, 125);
      assert.ok(isOneLineError(denied.stderr), denied.stderr);
      mkdirSync(join(sb.home, ".docker"), { recursive: true });
      const bad = Buffer.from("alice:wrong").toString("base64");
      writeFileSync(join(sb.home, ".docker/config.json"), JSON.stringify({ auths: { [`http://${basic.host}`]: { auth: bad } } }));
      execFileSync("chown", ["-R", `${sb.uid}:${sb.gid}`, join(sb.home, ".docker")]);
      const wrong = await cm(sb, ["create", "--from", `image:${basic.host}/private/multi:v1`]);
      assert.equal(wrong.status, 125);
      assert.match(wrong.stderr, /access denied .*alice/);
      const good = Buffer.from(`${ALICE.user}:${ALICE.password}`).toString("base64");
      writeFileSync(join(sb.home, ".docker/config.json"), JSON.stringify({ auths: { [basic.host]: { auth: good } } }));
      const r = await cm(sb, ["create", "--from", `image:${basic.host}/private/multi:v1`]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((await cm(sb, ["run", "--", "cat /opt/keep"])).stdout, "kept\n");
    });

    test("transient 503s are retried; a connection dropped mid-blob is resumed with a Range request", async () => {
      const sb = sandbox(as);
      const big = layersOf("multi")[0] as Descriptor;
      // a fresh cache, so that the blob is really downloaded
      const cache = sb.mkdir("fresh-cache");
      anon.faults.unavailable = 2;
      anon.faults.truncateOnce.add(big.digest.slice(7));
      anon.log.length = 0;
      const r = await cm(sb, ["create", "--from", `image:${anon.host}/test/multi:v1`], { env: { CM_CACHE_DIR: cache } });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(
        anon.log.some((l) => l.startsWith(`STORAGE ${big.digest.slice(7)} range bytes=`)),
        anon.log.join("\n"),
      );
      assert.equal((await cm(sb, ["run"])).status, 0);
    });

    test("a pull killed mid-download (SIGKILL) leaves no bundle; the next pull resumes the blob with a Range request", async () => {
      const sb = sandbox(as);
      const hex = (layersOf("multi")[0] as Descriptor).digest.slice(7);
      const cache = sb.mkdir("killed-cache");
      const partial = join(cache, "blobs", "sha256", `.${hex}.partial`);
      anon.faults.slow.add(hex);
      const child = sb.spawn(["create", "--from", `image:${anon.host}/test/multi:v1`], { env: { CM_CACHE_DIR: cache } });
      child.stdin?.end();
      const done = finished(child);
      await waitFor("part of the layer to arrive", () => existsSync(partial) && statSync(partial).size > 100_000);
      // cm runs as the sandbox user (through setpriv/env): kill the cm process itself
      const pid = Number(
        execFileSync("pgrep", ["-f", "-n", `dist/main.js create --from image:${anon.host}/test/multi:v1`], { encoding: "utf8" }).trim(),
      );
      process.kill(pid, "SIGKILL");
      await done;
      anon.faults.slow.delete(hex);
      assertNothingLeftButLocks(sb);
      anon.log.length = 0;
      const r = await cm(sb, ["create", "--from", `image:${anon.host}/test/multi:v1`], { env: { CM_CACHE_DIR: cache } });
      assert.equal(r.status, 0, r.stderr);
      assert.ok(
        anon.log.some((l) => l.startsWith(`STORAGE ${hex} range bytes=`)),
        anon.log.join("\n"),
      );
      assert.equal((await cm(sb, ["run"])).status, 0);
    });

    test("hostile registries: wrong bytes or a truncated blob are one-line errors that leave no bundle", async () => {
      const sb = sandbox(as);
      const hex = (layersOf("multi")[1] as Descriptor).digest.slice(7);
      anon.faults.corrupt.add(hex);
      const corrupt = await cm(sb, ["create", "--from", `image:${anon.host}/test/multi:v1`], { env: { CM_CACHE_DIR: sb.mkdir("c1") } });
      anon.faults.corrupt.delete(hex);
      assert.equal(corrupt.status, 125);
      assert.ok(isOneLineError(corrupt.stderr), corrupt.stderr);
      assert.match(corrupt.stderr, /digest/);
      assertNothingLeft(sb);
      anon.faults.truncate.add(hex);
      const truncated = await cm(sb, ["create", "--from", `image:${anon.host}/test/multi:v1`], { env: { CM_CACHE_DIR: sb.mkdir("c2") } });
      anon.faults.truncate.delete(hex);
      assert.equal(truncated.status, 125);
      assert.ok(isOneLineError(truncated.stderr), truncated.stderr);
      assert.match(truncated.stderr, /downloading .* failed/);
      assertNothingLeft(sb);
    });

    test("platforms: the host's from an index by default, another with --platform; an image for another platform only is refused", async () => {
      const sb = sandbox(as);
      assert.equal((await cm(sb, ["create", "--from", `image:${plain.host}/test/multiarch:v1`])).status, 0);
      assert.equal(readFileSync(join(rootfsOf(sb), "platform"), "utf8"), "amd64\n");
      const arm = await cm(sb, ["create", "arm", "--platform", "linux/arm64", "--from", `image:${plain.host}/test/multiarch:v1`]);
      assert.equal(arm.status, 0, arm.stderr);
      assert.equal(readFileSync(join(rootfsOf(sb, "arm"), "platform"), "utf8"), "arm64\n");
      for (const [tag, message] of [
        ["armonly", /for linux\/arm64 only, not linux\/amd64/],
        ["armlist", /has no image for linux\/amd64.*offers linux\/arm64\/v8/],
      ] as const) {
        const r = await cm(sb, ["create", "x", "--from", `image:${plain.host}/test/${tag}:v1`]);
        assert.equal(r.status, 125, r.stderr);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, message);
      }
      const badPlatform = await cm(sb, ["create", "x", "--platform", "linux/AMD 64", "--from", `image:${plain.host}/test/multiarch:v1`]);
      assert.equal(badPlatform.status, 125);
      assert.ok(isOneLineError(badPlatform.stderr), badPlatform.stderr);
    });

    test("Docker schema 2 manifests work; unknown media types and hostile layers are refused and leave nothing", async () => {
      const sb = sandbox(as);
      const docker = await cm(sb, ["create", "--from", `image:${plain.host}/test/docker:v1`]);
      assert.equal(docker.status, 0, docker.stderr);
      assert.equal((await cm(sb, ["run", "--", "cat", "/docker-format"])).stdout, "yes\n");
      const other = sandbox(as, "hostile");
      for (const [ref, message] of [
        [`${plain.host}/weird:v1`, /unsupported layer media type "application\/vnd.example.squashfs"/],
        [`${plain.host}/test/dotdot:v1`, /unsafe entry "..\/escaped"/],
        [`${plain.host}/test/absolute:v1`, /unsafe entry "\/abs"/],
        [`${plain.host}/test/nonexistent:v1`, /not found/],
      ] as const) {
        const r = await cm(other, ["create", "--from", `image:${ref}`]);
        assert.equal(r.status, 125, r.stderr);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, message);
        assertNothingLeft(other);
      }
      assert.equal(existsSync(join(other.dir, "work", "escaped")), false);
      assert.equal(existsSync(join(other.home, "data", "escaped")), false);
    });

    test("bad references and options: one-line errors before anything is touched", async () => {
      const sb = sandbox(as);
      for (const args of [
        ["create", "--from", "image:"],
        ["create", "--from", "image:UPPER/case"],
        ["create", "--from", "image:debian@sha256:1234"],
        ["create", "--from", "image:debian:bad tag"],
        ["create", "--from", `dir:${fixtures.busybox}`, "--platform", "linux/amd64"],
        ["create", "--from", "image:x", "--insecure-registry", "bad/host"],
        ["create", "--from", "oci-layout:/nonexistent"],
        ["create", "--from", "docker-archive:/nonexistent.tar"],
      ]) {
        const r = await cm(sb, args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
      }
      assertNothingLeft(sb);
    });

    test("oci-layout:PATH:TAG and docker-archive:PATH make the same runnable bundle", async () => {
      const sb = sandbox(as);
      const a = await cm(sb, ["create", "--from", `oci-layout:${layoutDir}:multi`]);
      assert.equal(a.status, 0, a.stderr);
      assert.equal((await cm(sb, ["run"])).stdout, "default command: hello-from-image in /project\n");
      const b = await cm(sb, ["create", "arch", "--from", `docker-archive:${archive}`]);
      assert.equal(b.status, 0, b.stderr);
      assert.equal((await cm(sb, ["run", "arch"])).stdout, "default command: hello-from-image in /project\n");
      assert.equal((await cm(sb, ["run", "arch", "--", "cat /opt/hard"])).stdout, "kept\n");
      const platform = await cm(sb, ["create", "p", "--from", `oci-layout:${layoutDir}:multiarch`, "--platform", "linux/arm64/v8"]);
      assert.equal(platform.status, 0, platform.stderr);
      assert.equal(readFileSync(join(rootfsOf(sb, "p"), "platform"), "utf8"), "arm64\n");
      const untagged = await cm(sb, ["create", "u", "--from", `oci-layout:${layoutDir}`]);
      assert.equal(untagged.status, 125);
      assert.match(untagged.stderr, /holds \d+ images/);
      const notTar = await cm(sb, ["create", "n", "--from", `docker-archive:${join(layoutDir, "index.json")}`]);
      assert.equal(notTar.status, 125);
      assert.ok(isOneLineError(notTar.stderr), notTar.stderr);
    });
  });
}

test("test images are what they claim (a sanity check of the fixture writer)", () => {
  const t = tar([{ path: "a", content: "x" }]);
  assert.equal(t.length, 512 * 2 + 1024);
});
