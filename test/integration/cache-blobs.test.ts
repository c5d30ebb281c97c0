/**
 * The image blob cache in `cm cache list` / `cm cache prune`, with real pulls from Debian's
 * docker-registry behind the test's token proxy (test/helpers/registry.ts: request log, slow
 * blobs), images built by the test from the busybox fixture. Root and rootless, each with a cache
 * directory of its own: list shows the blobs, prune frees them and bundles keep working, a second
 * pull downloads again; a prune next to a running pull keeps the blob being downloaded and does not
 * break the pull; a killed pull's partial download and lock are removed as leftovers.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { formatBytes } from "../../src/core/size.ts";
import { cmAsync, finished, fixtures, isOneLineError, type Result, type Sandbox, sandbox, USERS, waitFor } from "../helpers/cm.ts";
import { type Descriptor, Layout, treeEntries } from "../helpers/oci.ts";
import { push, type Registry, startRegistry, startTokenProxy, type TokenProxy } from "../helpers/registry.ts";

let plain: Registry;
let proxy: TokenProxy;
let ref: string;
/** the image's blobs: config and three layers; the second layer is large and can be served slowly */
let blobs: { config: string; layers: string[] };

before(async () => {
  const dir = join(process.env.CM_TEST_RUN as string, `oci-cache-blobs-${process.pid}`);
  const l = new Layout(dir);
  const d = l.image({
    layers: [
      { entries: treeEntries(fixtures.busybox) },
      { compression: "none", entries: [{ path: "big", content: randomBytes(1 << 20) }] },
      { entries: [{ path: "third", content: `third layer ${randomBytes(8).toString("hex")}\n` }] },
    ],
    config: { Cmd: ["cat", "/third"] },
  });
  l.tag(d, "v1");
  const manifest = JSON.parse(execFileSync("cat", [join(dir, "blobs/sha256", d.digest.slice(7))], { encoding: "utf8" })) as {
    config: Descriptor;
    layers: Descriptor[];
  };
  blobs = { config: manifest.config.digest.slice(7), layers: manifest.layers.map((x) => x.digest.slice(7)) };
  execFileSync("chmod", ["-R", "a+rX", dir]);
  plain = await startRegistry();
  proxy = await startTokenProxy(plain.host);
  push(dir, "v1", `${plain.host}/test/blobcache:v1`);
  ref = `image:${proxy.host}/test/blobcache:v1`;
});

after(async () => {
  await proxy?.stop();
  await plain?.stop();
});

/** cm without blocking this process (the token proxy answers from it). */
function cm(sb: Sandbox, args: string[], cache: string): Promise<Result> {
  return cmAsync(sb, args, { CM_CACHE_DIR: cache });
}

interface Entry {
  kind: string;
  key: string;
  sizeBytes: number;
  count?: number;
  partials?: number;
  partialBytes?: number;
  dir: string;
}

async function list(sb: Sandbox, cache: string): Promise<Entry[]> {
  const r = await cm(sb, ["cache", "list", "--json"], cache);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Entry[];
}

function blobFiles(cache: string): string[] {
  const dir = join(cache, "blobs", "sha256");
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

const big = () => blobs.layers[1] as string;

for (const as of USERS) {
  describe(`the image blob cache (${as})`, () => {
    const sb = sandbox(as, "blobproj");

    test("cm cache list shows the blobs of a pull: how many, their size", async () => {
      const cache = sb.mkdir("cache-list");
      assert.deepEqual(await list(sb, cache), []);
      const r = await cm(sb, ["create", "--from", ref], cache);
      assert.equal(r.status, 0, r.stderr);
      const files = blobFiles(cache);
      assert.deepEqual(files, [blobs.config, ...blobs.layers].sort(), "complete blobs only, nothing else left");
      const size = files.reduce((n, f) => n + statSync(join(cache, "blobs/sha256", f)).size, 0);
      const entries = await list(sb, cache);
      assert.equal(entries.length, 1);
      assert.deepEqual(
        { ...entries[0] },
        {
          kind: "blobs",
          key: "blobs",
          source: "4 image blobs",
          tool: "",
          created: "",
          count: 4,
          sizeBytes: size,
          partials: 0,
          partialBytes: 0,
          dir: join(cache, "blobs", "sha256"),
        },
      );
      const text = await cm(sb, ["cache", "list"], cache);
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /^KEY\s+SIZE\s+CREATED\s+SOURCE\nblobs\s+\d+(\.\d)?MiB\s+-\s+4 image blobs\n$/);
    });

    test("cm cache prune blobs frees them; the bundle keeps working; the next pull downloads again", async () => {
      const cache = sb.mkdir("cache-prune");
      assert.equal((await cm(sb, ["create", "pruned", "--from", ref], cache)).status, 0);
      const before = (await list(sb, cache))[0];
      const r = await cm(sb, ["cache", "prune", "blobs"], cache);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.equal(r.stdout, `removed 4 image blobs\nfreed ${formatBytes(before?.sizeBytes ?? 0)}\n`);
      assert.deepEqual(blobFiles(cache), []);
      assert.deepEqual(await list(sb, cache), []);
      // bundles are unpacked copies: nothing of theirs was in the cache
      const run = await cm(sb, ["run", "pruned"], cache);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^third layer [0-9a-f]{16}\n$/);
      assert.equal((await cm(sb, ["run", "pruned", "--", "sh", "-c", "wc -c < /big"], cache)).stdout.trim(), String(1 << 20));
      const nothing = await cm(sb, ["cache", "prune", "blobs"], cache);
      assert.equal(nothing.stdout, "no image blobs cached: nothing removed\n");
      proxy.log.length = 0;
      const again = await cm(sb, ["create", "again", "--from", ref], cache);
      assert.equal(again.status, 0, again.stderr);
      for (const hex of blobs.layers)
        assert.ok(
          proxy.log.some((l) => l.includes(hex)),
          `layer ${hex} downloaded again: ${proxy.log.join("\n")}`,
        );
      assert.equal((await cm(sb, ["run", "again"], cache)).status, 0);
      assert.equal(blobFiles(cache).length, 4);
    });

    test("KEYs: bases prunes only bases, no KEY prunes the blobs too; an unknown KEY is a one-line error", async () => {
      const cache = sb.mkdir("cache-keys");
      assert.equal((await cm(sb, ["create", "keys", "--from", ref], cache)).status, 0);
      const bases = await cm(sb, ["cache", "prune", "bases"], cache);
      assert.equal(bases.stdout, "no bases cached: nothing removed\n");
      assert.equal(blobFiles(cache).length, 4);
      const bad = await cm(sb, ["cache", "prune", "blobz"], cache);
      assert.equal(bad.status, 125);
      assert.ok(isOneLineError(bad.stderr), bad.stderr);
      assert.match(bad.stderr, /no cached base "blobz".*bases, blobs/);
      assert.equal(blobFiles(cache).length, 4, "nothing removed by a bad prune");
      const all = await cm(sb, ["cache", "prune"], cache);
      assert.equal(all.status, 0, all.stderr);
      assert.match(all.stdout, /^removed 4 image blobs\nfreed /);
      assert.deepEqual(blobFiles(cache), []);
    });

    test("a prune during a pull keeps the blob being downloaded, removes the others, and the pull still succeeds", async () => {
      const cache = sb.mkdir("cache-concurrent");
      const dir = join(cache, "blobs", "sha256");
      const partial = join(dir, `.${big()}.partial`);
      const third = join(dir, blobs.layers[2] as string);
      proxy.faults.slow.add(big());
      try {
        const child = sb.spawn(["create", "concurrent", "--from", ref], { env: { CM_CACHE_DIR: cache } });
        child.stdin?.end();
        const done = finished(child);
        // the third layer is complete and waits, held open, for the big one to be unpacked first
        await waitFor("the big layer to be downloading and the third complete", () => {
          return existsSync(partial) && statSync(partial).size > 100_000 && existsSync(third);
        });
        const r = await cm(sb, ["cache", "prune", "blobs"], cache);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^removed 3 image blobs\nfreed /);
        assert.match(r.stderr, /^cm: kept 1 image blob: another cm \(pid \d+\) is downloading it\n$/);
        assert.equal(existsSync(third), false);
        assert.equal(existsSync(partial), true, "the download in progress is untouched");
        const pulled = await done;
        assert.equal(pulled.status, 0, pulled.stderr);
      } finally {
        proxy.faults.slow.delete(big());
      }
      const run = await cm(sb, ["run", "concurrent"], cache);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^third layer /);
      assert.deepEqual(blobFiles(cache), [big()], "only what was downloaded after the prune");
    });

    test("a pull killed mid-download (SIGKILL): its partial download and lock are leftovers that prune removes", async () => {
      const cache = sb.mkdir("cache-killed");
      const dir = join(cache, "blobs", "sha256");
      const partial = join(dir, `.${big()}.partial`);
      proxy.faults.slow.add(big());
      try {
        const bundle = `killed-${as}`;
        const child = sb.spawn(["create", bundle, "--from", ref], { env: { CM_CACHE_DIR: cache } });
        child.stdin?.end();
        const done = finished(child);
        await waitFor("part of the big layer to arrive", () => existsSync(partial) && statSync(partial).size > 100_000);
        const pid = Number(execFileSync("pgrep", ["-f", "-n", `dist/main.js create ${bundle} --from`], { encoding: "utf8" }).trim());
        process.kill(pid, "SIGKILL");
        await done;
      } finally {
        proxy.faults.slow.delete(big());
      }
      assert.ok(blobFiles(cache).includes(`.${big()}.lock`), blobFiles(cache).join(" "));
      const entry = (await list(sb, cache)).find((e) => e.kind === "blobs");
      assert.equal(entry?.partials, 1);
      assert.ok((entry?.partialBytes ?? 0) > 100_000);
      const r = await cm(sb, ["cache", "prune"], cache);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.match(r.stdout, /^removed 3 image blobs\nremoved 2 leftovers of interrupted downloads\nfreed /);
      assert.deepEqual(blobFiles(cache), []);
    });
  });
}
