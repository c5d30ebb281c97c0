/**
 * Image pull benchmark (no internet): builds an image from the busybox fixture plus a layer with a
 * 64 MiB file of random bytes (incompressible, so the layer is ~64 MB on the wire), serves it from a
 * loopback docker-registry, and measures
 *   - cold `cm create --from image:…` (empty blob cache): wall time and cm's peak RSS (VmHWM),
 *   - warm `cm create --force` (the image cached): wall time and peak RSS, next to a plain `cp -a`
 *     of the unpacked tree (what a warm pull should be near),
 *   - the reference: `skopeo copy docker://… oci:DIR` followed by `umoci unpack` when umoci is
 *     installed, else `tar -x` of each layer in order (what a shell script would do),
 * each `--runs` times (default 3), reporting medians.
 *
 *   npm run build && node_modules/.bin/node bench/image-pull.ts [--runs N] [--mb SIZE] [--debian]
 * (--debian: one layer holding the test fixtures' Debian minbase tarball: many small files)
 * As root (cm create as root). Needs docker-registry, skopeo, busybox-static (the fixture).
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Layout, treeEntries } from "../test/helpers/oci.ts";
import { push, startRegistry } from "../test/helpers/registry.ts";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg("runs", 3);
const MB = arg("mb", 64);
/** --debian: the layer is the Debian minbase tarball of the test fixtures (many small files) instead */
const DEBIAN = process.argv.includes("--debian");
const debianTar = "/var/tmp/cm-test-fixtures/debian-bookworm-minbase.tar";

const busybox = "/var/tmp/cm-test-fixtures/busybox-rootfs";
if (!existsSync(join(busybox, "bin/busybox"))) throw new Error(`${busybox} is missing: run the integration tests once (they build it)`);

/** Runs a command, polling its peak RSS; resolves to [seconds, peak RSS in MB]. */
function measure(file: string, args: string[], env: Record<string, string>, cwd: string): Promise<[number, number]> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { env: { ...process.env, ...env }, cwd, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    let peak = 0;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      } catch {
        // gone
      }
    }, 20);
    child.on("close", (code) => {
      clearInterval(poll);
      const secs = Number(process.hrtime.bigint() - start) / 1e9;
      if (code !== 0) reject(new Error(`${file} ${args.join(" ")} failed: ${err}`));
      else resolve([secs, peak]);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

const work = mkdtempSync(join(tmpdir(), "cm-bench-image-"));
const layoutDir = join(work, "layout");
const l = new Layout(layoutDir);
l.tag(
  l.image({
    layers: DEBIAN
      ? [{ raw: readFileSync(debianTar) }]
      : [{ entries: treeEntries(busybox) }, { entries: [{ path: "data/random.bin", content: randomBytes(MB * 1024 * 1024) }] }],
    config: { Cmd: ["sh"] },
  }),
  "big",
);
const registry = await startRegistry();
try {
  push(layoutDir, "big", `${registry.host}/bench/big:v1`);
  const ref = `${registry.host}/bench/big:v1`;
  const cm = join(repo, "bin/cm");
  const project = join(work, "proj");
  mkdirSync(project);
  const env = { CM_HOME: join(work, "data"), CM_STATE_DIR: join(work, "state"), CM_CACHE_DIR: join(work, "cache") };
  const cold: [number, number][] = [];
  const warm: [number, number][] = [];
  const ref1: number[] = [];
  const copies: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rmSync(env.CM_CACHE_DIR, { recursive: true, force: true });
    cold.push(await measure(cm, ["create", "--force", "-q", "--from", `image:${ref}`], env, project));
    warm.push(await measure(cm, ["create", "--force", "-q", "--from", `image:${ref}`], env, project));
    // what a warm pull should be near: a plain local copy of the unpacked tree
    const copyTo = join(work, `copy-${i}`);
    const tc = process.hrtime.bigint();
    execFileSync("cp", ["-a", "--", join(env.CM_HOME, "proj", "default", "rootfs"), copyTo]);
    copies.push(Number(process.hrtime.bigint() - tc) / 1e9);
    rmSync(copyTo, { recursive: true, force: true });
    // reference: skopeo to an OCI layout, then umoci unpack or tar -x of each layer
    const out = join(work, `ref-${i}`);
    mkdirSync(out);
    const t0 = process.hrtime.bigint();
    execFileSync("skopeo", ["copy", "--quiet", "--src-tls-verify=false", `docker://${ref}`, `oci:${out}/layout:big`]);
    const umoci = ["/usr/bin/umoci", "/usr/local/bin/umoci"].find((p) => existsSync(p));
    if (umoci) execFileSync(umoci, ["unpack", "--image", `${out}/layout:big`, `${out}/bundle`]);
    else {
      const index = JSON.parse(readFileSync(join(out, "layout/index.json"), "utf8")) as { manifests: { digest: string }[] };
      const manifest = JSON.parse(
        readFileSync(join(out, "layout/blobs/sha256", (index.manifests[0] as { digest: string }).digest.slice(7)), "utf8"),
      ) as {
        layers: { digest: string }[];
      };
      mkdirSync(join(out, "rootfs"));
      for (const layer of manifest.layers)
        execFileSync("tar", ["-xzf", join(out, "layout/blobs/sha256", layer.digest.slice(7)), "-C", join(out, "rootfs")]);
    }
    ref1.push(Number(process.hrtime.bigint() - t0) / 1e9);
    rmSync(out, { recursive: true, force: true });
  }
  const c = median(cold.map((x) => x[0]));
  const r = median(ref1);
  console.log(
    `${DEBIAN ? "Debian minbase image (one layer, ~170 MB unpacked)" : `image with a ${MB} MiB random layer`}, ${RUNS} runs, medians:`,
  );
  console.log(
    `  cm cold pull+unpack : ${c.toFixed(2)} s, peak RSS ${median(cold.map((x) => x[1])).toFixed(0)} MB (max ${Math.max(...cold.map((x) => x[1])).toFixed(0)} MB)`,
  );
  console.log(
    `  cm warm (cached)    : ${median(warm.map((x) => x[0])).toFixed(2)} s, peak RSS ${median(warm.map((x) => x[1])).toFixed(0)} MB`,
  );
  console.log(
    `  plain cp -a (rootfs) : ${median(copies).toFixed(2)} s (warm/copy ${(median(warm.map((x) => x[0])) / median(copies)).toFixed(2)}x)`,
  );
  console.log(`  skopeo + ${existsSync("/usr/bin/umoci") ? "umoci unpack" : "tar -x   "}  : ${r.toFixed(2)} s`);
  console.log(`  ratio cm/reference  : ${(c / r).toFixed(2)}x (target <= 1.2x)`);
} finally {
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
