/**
 * cm export: the real cm writes images of real bundles, and real engines run them. Podman runs as
 * the sandbox's own user (rootless podman for the rootless cases) with runc and the rlimits this
 * host allows (HOST-NOTES: podman's default rlimits fail here; no slirp4netns, so the host
 * network). skopeo reads the configs; a loopback docker-registry behind a counting proxy takes
 * the pushes.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type As, cmAsync, fixtures, isOneLineError, type Sandbox, sandbox, USERS, writeProjectFile } from "../helpers/cm.ts";
import { type CountingProxy, type Registry, startCountingProxy, startRegistry } from "../helpers/registry.ts";

let registry: Registry;
let proxy: CountingProxy;

before(async () => {
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.host);
});

/** Rootless podman leaves a pause process per runtime directory (it holds the user namespace): ended here. */
const runtimeDirs = new Set<string>();

after(async () => {
  for (const dir of runtimeDirs) {
    const pidFile = join(dir, "libpod", "tmp", "pause.pid");
    if (!existsSync(pidFile)) continue;
    try {
      process.kill(Number(readFileSync(pidFile, "utf8").trim()), "SIGKILL");
    } catch {
      // already gone
    }
  }
  await proxy?.stop();
  await registry?.stop();
});

/** containers.conf for podman kube play (it has no --runtime/--ulimit flags). */
function containersConf(sb: Sandbox): string {
  const file = join(sb.dir, "containers.conf");
  writeFileSync(file, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n');
  chmodSync(file, 0o644);
  return file;
}

/** podman as the sandbox's user, with its own runtime directory (rootless) and the host's limits. */
function podman(sb: Sandbox, args: string[]): { status: number; stdout: string; stderr: string } {
  const runtimeDir = sb.mkdir("podman-run");
  runtimeDirs.add(runtimeDir);
  return sb.exec("env", [`XDG_RUNTIME_DIR=${runtimeDir}`, `CONTAINERS_CONF=${containersConf(sb)}`, "podman", ...args]);
}

function podmanRun(sb: Sandbox, image: string, command: string[]): string {
  const r = podman(sb, [
    "run",
    "--rm",
    "--network",
    "host",
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=4096:4096",
    "-v",
    `${sb.project}:/project`,
    image,
    ...command,
  ]);
  assert.equal(r.status, 0, `podman run: ${r.stderr}`);
  return r.stdout;
}

function ok(sb: Sandbox, args: string[], env?: Record<string, string>): string {
  const r = sb.cm(args, env ? { env } : {});
  assert.equal(r.status, 0, `cm ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The commands whose output must be the same under cm run and podman run. */
const SAME = ["sh", "-c", 'pwd; cat /project/hello.txt; stat -c "%u:%g %a %s %n" /etc/passwd /bin; echo "$PATH $HOME"'];

function uniqueName(as: As): string {
  return `localhost/cm-export-${as}-${process.pid}:v1`;
}

for (const as of USERS) {
  describe(`cm export (${as})`, () => {
    test("docker-archive and oci-layout: same digest twice, config shown by skopeo, root-owned layer, podman runs it as cm run does", () => {
      const sb = sandbox(as);
      writeFileSync(join(sb.project, "hello.txt"), "hello from the project\n");
      chmodSync(join(sb.project, "hello.txt"), 0o644);
      ok(sb, ["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      const out = sb.mkdir("out");
      const name = uniqueName(as);
      const first = ok(sb, ["export", "--to", `docker-archive:${join(out, "a.tar")}:${name}`, "-q"]).trim();
      const second = ok(sb, ["export", "--to", `docker-archive:${join(out, "b.tar")}:${name}`, "-q"]).trim();
      assert.match(first, /^sha256:[0-9a-f]{64}$/);
      assert.equal(second, first, "the same bundle exported twice has the same digest");
      assert.deepEqual(readFileSync(join(out, "a.tar")), readFileSync(join(out, "b.tar")), "byte for byte");
      const json = JSON.parse(ok(sb, ["export", "--to", `oci-layout:${join(out, "oci")}:t1`, "--json"]));
      assert.equal(json.digest, first, "the OCI layout holds the same image");
      assert.equal(json.layers.length, 1);
      assert.ok(json.size > json.layers[0].size);

      const inspect = JSON.parse(execFileSync("skopeo", ["inspect", "--config", `oci:${join(out, "oci")}:t1`], { encoding: "utf8" }));
      assert.equal(inspect.config.WorkingDir, "/project");
      assert.deepEqual(inspect.config.Cmd, ["/bin/sh", "-l"], "busybox has no bash: cm run's default shell");
      assert.equal(inspect.config.User, "0:0");
      assert.ok(inspect.config.Env.some((e: string) => e.startsWith("PATH=")));
      assert.equal(inspect.config.Labels["dev.cm.version"], ok(sb, ["--version"]).trim().replace(/^cm /, ""));
      assert.equal(inspect.config.Labels["dev.cm.source"], `dir:${fixtures.busybox}`);

      // Ownership as seen inside: the rootless bundle's files belong to the test user on the host, root in the image.
      const blob = join(out, "oci", "blobs", "sha256", json.layers[0].digest.slice(7));
      const listing = execFileSync("tar", ["-tzvf", blob, "--numeric-owner"], { encoding: "utf8" }).trim().split("\n");
      assert.ok(listing.length > 10);
      for (const line of listing) assert.match(line, /^\S+ 0\/0 /, line);
      if (as === "rootless") {
        const passwd = execFileSync("find", [sb.env.CM_HOME as string, "-path", "*/rootfs/etc/passwd"], { encoding: "utf8" }).trim();
        const owner = execFileSync("stat", ["-c", "%u", passwd], { encoding: "utf8" }).trim();
        assert.equal(owner, String(sb.uid), "the bundle's files really are the test user's on the host");
      }

      const loaded = podman(sb, ["load", "-i", join(out, "a.tar")]);
      assert.equal(loaded.status, 0, loaded.stderr);
      try {
        const viaPodman = podmanRun(sb, name, SAME);
        const viaCm = ok(sb, ["run", "--", ...SAME]);
        assert.equal(viaPodman, viaCm);
        assert.match(viaCm, /hello from the project/);
      } finally {
        podman(sb, ["rmi", "-f", name]);
      }
    });

    test("image: pushed to a loopback registry, pulled and run by podman; a re-push sends no blob", async () => {
      const sb = sandbox(as);
      writeFileSync(join(sb.project, "hello.txt"), "pushed\n");
      chmodSync(join(sb.project, "hello.txt"), 0o644);
      ok(sb, ["create", "--from", `tar:${fixtures.debianTar}`, "-q"]);
      const ref = `${proxy.host}/cm/${as}-debian:v1`;
      proxy.log.length = 0;
      const first = await cmAsync(sb, ["export", "--to", `image:${ref}`, "--json"]);
      assert.equal(first.status, 0, first.stderr);
      const pushed = JSON.parse(first.stdout);
      assert.deepEqual(pushed.pushed, { sent: 2, skipped: 0 });
      assert.ok(pushed.layers[0].size > 16 * 1024 * 1024, "the Debian layer is large enough to go up in chunks");
      assert.ok(proxy.log.filter((l) => l.startsWith("PATCH ")).length >= 2, `chunked upload: ${proxy.log.join(", ")}`);
      assert.ok(proxy.log.some((l) => l.startsWith("PUT ") && l.includes("/manifests/v1")));

      proxy.log.length = 0;
      const again = await cmAsync(sb, ["export", "--to", `image:${ref}`, "--json"]);
      assert.equal(again.status, 0, again.stderr);
      assert.equal(JSON.parse(again.stdout).digest, pushed.digest);
      assert.deepEqual(JSON.parse(again.stdout).pushed, { sent: 0, skipped: 2 });
      const uploads = proxy.log.filter((l) => l.includes("/blobs/uploads/") || l.startsWith("PATCH "));
      assert.deepEqual(uploads, [], "no blob upload on a re-push");
      assert.equal(proxy.log.filter((l) => l.startsWith("HEAD ")).length, 2);

      // Read straight from the registry (the proxy runs in this process, which execFileSync blocks).
      const direct = `${registry.host}/cm/${as}-debian:v1`;
      const inspect = JSON.parse(execFileSync("skopeo", ["inspect", "--tls-verify=false", `docker://${direct}`], { encoding: "utf8" }));
      assert.equal(inspect.Digest, pushed.digest);
      assert.equal(inspect.Labels["dev.cm.source"], `tar:${fixtures.debianTar}`);

      const pull = podman(sb, ["pull", "--tls-verify=false", direct]);
      assert.equal(pull.status, 0, pull.stderr);
      try {
        const cmd = [
          "sh",
          "-c",
          "cat /project/hello.txt; dpkg-query -W -f '$''{Package}\\n' | sort | md5sum; stat -c '%U:%G %a' /etc/shadow /var/lib/apt/lists/partial",
        ];
        assert.equal(podmanRun(sb, direct, cmd), ok(sb, ["run", "--", ...cmd]));
      } finally {
        podman(sb, ["rmi", "-f", direct]);
      }
    });

    test("ids as seen inside: a subordinate-range bundle's files (subuid_start+N-1) are N in the image, read in the bundle's user namespace", () => {
      const sb = sandbox(as);
      ok(sb, ["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      const rootfs = execFileSync("find", [sb.env.CM_HOME as string, "-maxdepth", "3", "-name", "rootfs"], { encoding: "utf8" }).trim();
      // Root: real ids, no mapping. Rootless: the range mapping the idmap work records (0 -> the
      // user, 1..65536 -> the subordinate range), its files shifted as such a bundle stores them.
      const start =
        as === "root" ? 1 : Number(readFileSync("/etc/subuid", "utf8").match(new RegExp(`^${fixtures.user}:(\\d+):`, "m"))?.[1]);
      assert.ok(start > 0, "the test user has a subordinate range");
      const hostId = (n: number) => start + n - 1;
      writeFileSync(join(rootfs, "etc", "secret"), "only for 42\n");
      execFileSync("chown", [`${hostId(42)}:${hostId(42)}`, join(rootfs, "etc", "secret")]);
      chmodSync(join(rootfs, "etc", "secret"), 0o600);
      mkdirSync(join(rootfs, "srv9"));
      writeFileSync(join(rootfs, "srv9", "inner"), "nine\n");
      execFileSync("chown", ["-R", `${hostId(10)}:${hostId(10)}`, join(rootfs, "srv9")]);
      chmodSync(join(rootfs, "srv9"), 0o700);
      if (as === "rootless") {
        const config = join(rootfs, "..", "config.json");
        const spec = JSON.parse(readFileSync(config, "utf8"));
        const map = [
          { containerID: 0, hostID: sb.uid, size: 1 },
          { containerID: 1, hostID: start, size: 65536 },
        ];
        spec.linux.uidMappings = map;
        spec.linux.gidMappings = map.map((m, i) => (i === 0 ? { ...m, hostID: sb.gid } : m));
        writeFileSync(config, JSON.stringify(spec));
      }
      const out = sb.mkdir("out");
      const json = JSON.parse(ok(sb, ["export", "--to", `oci-layout:${join(out, "oci")}`, "--json"]));
      const blob = join(out, "oci", "blobs", "sha256", json.layers[0].digest.slice(7));
      const listing = execFileSync("tar", ["-tzvf", blob, "--numeric-owner"], { encoding: "utf8" });
      assert.match(listing, /^-rw------- 42\/42 .* etc\/secret$/m);
      assert.match(listing, /^drwx------ 10\/10 .* srv9\/$/m);
      assert.match(listing, /^\S+ 0\/0 .* etc\/passwd$/m);
      assert.equal(execFileSync("tar", ["-xzOf", blob, "etc/secret", "srv9/inner"], { encoding: "utf8" }), "only for 42\nnine\n");
    });

    test("--with-project copies the project in at /project, leaving out --exclude-from's patterns", () => {
      const sb = sandbox(as);
      ok(sb, ["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      mkdirSync(join(sb.project, "src"));
      mkdirSync(join(sb.project, "build"));
      writeFileSync(join(sb.project, "src", "main.c"), "int main(void) { return 0; }\n");
      writeFileSync(join(sb.project, "build", "out.o"), "object\n");
      writeFileSync(join(sb.project, "secret.env"), "TOKEN=x\n");
      execFileSync("chown", ["-R", `${sb.uid}:${sb.gid}`, sb.project]);
      const ignore = join(sb.dir, "exclude");
      writeFileSync(ignore, "build/\n*.env\n");
      chmodSync(ignore, 0o644);
      const out = sb.mkdir("out");
      const json = JSON.parse(
        ok(sb, ["export", "--to", `oci-layout:${join(out, "oci")}`, "--with-project", "--exclude-from", ignore, "--json"]),
      );
      assert.equal(json.layers.length, 2, "the rootfs layer and the project layer");
      const blob = join(out, "oci", "blobs", "sha256", json.layers[1].digest.slice(7));
      const names = execFileSync("tar", ["-tzf", blob], { encoding: "utf8" }).trim().split("\n").sort();
      assert.deepEqual(names, ["project/", "project/src/", "project/src/main.c"]);
      const without = JSON.parse(ok(sb, ["export", "--to", `oci-layout:${join(out, "oci")}:bare`, "--json"]));
      assert.equal(without.layers[0].digest, json.layers[0].digest, "the rootfs layer does not depend on the project");
    });

    test("--kube: podman kube play runs the Pod with the project mounted, cm.toml's env and command, read-only root", () => {
      const sb = sandbox(as);
      ok(sb, ["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      execFileSync("chown", ["-R", `${sb.uid}:${sb.gid}`, sb.project]);
      writeProjectFile(
        sb,
        '[run]\nenv = { GREETING = "hello from the pod" }\ncommand = ["sh", "-c", "echo \\"$GREETING\\" > /project/out; if touch /probe 2>/dev/null; then echo rw; else echo ro; fi >> /project/out; pwd >> /project/out"]\n',
      );
      execFileSync("chown", ["-R", `${sb.uid}:${sb.gid}`, sb.project]);
      const out = sb.mkdir("out");
      const name = uniqueName(as);
      const pod = join(out, "pod.yaml");
      ok(sb, ["export", "--to", `docker-archive:${join(out, "a.tar")}:${name}`, "--kube", pod, "--read-only", "-q"]);
      const yaml = readFileSync(pod, "utf8");
      assert.match(yaml, /readOnlyRootFilesystem: true/);
      assert.match(yaml, new RegExp(`path: "${sb.project}"`));
      assert.equal(podman(sb, ["load", "-i", join(out, "a.tar")]).status, 0);
      try {
        const play = podman(sb, ["kube", "play", pod]);
        assert.equal(play.status, 0, play.stderr);
        const wait = podman(sb, ["wait", "proj-default-proj-default"]);
        assert.equal(wait.status, 0, wait.stderr);
        assert.equal(wait.stdout.trim(), "0");
        assert.equal(readFileSync(join(sb.project, "out"), "utf8"), "hello from the pod\nro\n/project\n");
      } finally {
        podman(sb, ["kube", "down", pod]);
        podman(sb, ["rmi", "-f", name]);
      }
    });

    test("bad input: one-line errors, nothing written", async () => {
      const sb = sandbox(as);
      ok(sb, ["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      const out = sb.mkdir("out");
      writeFileSync(join(out, "stuff"), "not a layout\n");
      const cases: [string[], RegExp, Record<string, string>?][] = [
        [["export"], /--to is required/],
        [["export", "--to", "tarball:x"], /unknown destination/],
        [["export", "--to", `oci-layout:${out}`], /exists and is not an OCI image layout/],
        [["export", "--to", `image:127.0.0.1:9/x@sha256:${"a".repeat(64)}`], /push to a tag/],
        [["export", "--to", `oci-layout:${join(out, "o")}`], /SOURCE_DATE_EPOCH="yesterday"/, { SOURCE_DATE_EPOCH: "yesterday" }],
        [["export", "--to", `oci-layout:${join(out, "o")}`, "--memory", "1g"], /apply to the --kube manifest/],
        [["export", "nosuch", "--to", `oci-layout:${join(out, "o")}`], /no bundle "nosuch"/],
      ];
      for (const [args, message, env] of cases) {
        const r = sb.cm(args, env ? { env } : {});
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, message);
      }
      assert.equal(existsSync(join(out, "o")), false);
      const dead = await cmAsync(sb, ["export", "--to", "image:127.0.0.1:9/cm/x:v1"]);
      assert.equal(dead.status, 125);
      assert.ok(isOneLineError(dead.stderr), dead.stderr);
      assert.match(dead.stderr, /cannot reach the registry 127\.0\.0\.1:9/);
    });
  });
}
