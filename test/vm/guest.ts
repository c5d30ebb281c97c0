/**
 * A real systemd + cgroup v2 machine for the tests: a Debian 12 guest booted with QEMU, running
 * checks written here as shell snippets, whose results come back as files the tests assert on.
 *
 *   image      test/vm/image.sh builds the guest once per machine (mmdebstrap, Debian packages
 *              only) under /var/cache/cm-test-vm/<hash of its inputs>, with what the README tells
 *              a user to install (scripts/setup.sh runtime_pkgs) plus crun and busybox-static.
 *   boot       qemu-system-x86_64 with KVM when it works, else software emulation (TCG): on
 *              this kind of CI machine /dev/kvm exists but a KVM guest hangs right after the
 *              boot stub (nested virtualisation), so KVM is probed first (kvmWorks: the kernel
 *              must print its banner within 10 s); CM_TEST_VM_ACCEL=kvm|tcg skips the probe.
 *              The disk is a snapshot: every boot starts from the pristine image.
 *   shares     9p: a per-boot directory at /host (the generated guest script in, results out)
 *              and the host's installed cm (global setup's install dir: dist/ plus its Node)
 *              read-only at the same path as on the host, so its #! line works unchanged; the
 *              guest copies it to its own disk at that path first (Node's binary mapped over 9p
 *              made every cm start take 15-25 s).
 *   checks     run in order; root's as root, a user's in ONE real login session (su -l: PAM,
 *              pam_systemd, XDG_RUNTIME_DIR, the user's D-Bus and systemd manager), each with
 *              `bash -c`, a timeout, and its status, stdout and stderr recorded.
 * A missing prerequisite (qemu, mmdebstrap, root) throws: the tests fail, they never skip.
 */
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export interface GuestCheck {
  /** unique; [a-z0-9-] */
  name: string;
  /** root, or a user of the image (dev: systemd's default delegation; nodeleg: no cpu delegated) */
  as: "root" | "dev" | "nodeleg";
  /** a bash script, run with `bash -c` in the user's home; `cm` is on PATH */
  sh: string;
}

export interface CheckResult {
  status: number;
  stdout: string;
  stderr: string;
}

export interface BootResult {
  results: Map<string, CheckResult>;
  /** the guest script's whole output (set-up and per-user runners) */
  log: string;
  /** seconds from qemu's start to the guest script's start, and of the whole boot */
  bootSeconds: number;
  wallSeconds: number;
}

/** Builds the image if needed (slow once: ~1.5 min), returns its directory. */
export function guestImage(): string {
  for (const tool of ["qemu-system-x86_64", "mmdebstrap", "mkfs.ext4", "unshare"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
      throw new Error(`VM tests: ${tool} is missing (apt-get install qemu-system-x86 mmdebstrap e2fsprogs util-linux)`);
    }
  }
  if (process.getuid?.() !== 0) throw new Error("VM tests: the guest image is built as root");
  const r = spawnSync(join(here, "image.sh"), [], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20 * 60_000 });
  const dir = r.stdout.trim().split("\n").pop() ?? "";
  if (r.status !== 0 || !existsSync(join(dir, "ready"))) {
    throw new Error(`VM tests: building the guest image failed (status ${r.status}):\n${r.stderr.slice(-4000)}`);
  }
  return dir;
}

let accel: "kvm" | "tcg" | undefined;

/**
 * Whether a KVM guest boots here: the kernel's "Linux version" banner on the serial console
 * within 10 s (under KVM it comes in well under a second; where nested virtualisation is broken
 * the guest hangs before it). Costs up to 10 s once per test process when KVM does not work.
 */
async function kvmWorks(image: string): Promise<boolean> {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
  } catch {
    return false;
  }
  const qemu = spawn(
    "qemu-system-x86_64",
    [
      ...["-accel", "kvm", "-cpu", "host", "-m", "512", "-nodefaults", "-display", "none", "-no-reboot"],
      ...["-kernel", join(image, "vmlinuz"), "-append", "console=ttyS0 panic=-1", "-serial", "stdio"],
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  return await new Promise<boolean>((resolve) => {
    let out = "";
    const done = (ok: boolean) => {
      clearTimeout(timer);
      qemu.kill("SIGKILL");
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 10_000);
    qemu.stdout.on("data", (d) => {
      out += d;
      if (out.includes("Linux version")) done(true);
    });
    qemu.on("close", () => done(false));
  });
}

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** The script the guest runs as root: set-up, then each user's checks in order. */
function guestScript(installDir: string, checks: GuestCheck[], setup: string): string {
  const lines = [
    "#!/bin/bash",
    "# generated by test/vm/guest.ts",
    "set -u",
    // Node's 120 MB binary mapped from 9p (no page cache) costs 15-25 s of every start under
    // emulation: copy the share onto the guest's disk, at the same path (its #! line names it).
    `I=${quote(installDir)}; cp -a "$I" /var/tmp/cm-install && umount "$I" && cp -a /var/tmp/cm-install/. "$I" && rm -rf /var/tmp/cm-install || echo "copying cm from the share failed"`,
    `ln -sf ${quote(join(installDir, "bin/cm"))} /usr/local/bin/cm`,
    // cm-check NAME DIR SCRIPT: one check in ~/proj (the project), status and output recorded under DIR
    "cat > /usr/local/bin/cm-check <<'EOF'",
    "#!/bin/bash",
    'name=$1; dir=$2; mkdir -p "$HOME/proj"; cd "$HOME/proj"; echo "$(cut -d" " -f1 /proc/uptime) s: $name ($(id -un))" >> /host/checks.log',
    'timeout -k 5 240 bash -c "$3" > "$dir/$name.out" 2> "$dir/$name.err" < /dev/null',
    'echo $? > "$dir/$name.rc"',
    "EOF",
    "chmod 755 /usr/local/bin/cm-check; : > /host/checks.log; chmod 666 /host/checks.log",
    // the busybox rootfs the containers use, built as the test fixture is
    "B=/var/tmp/busybox-rootfs; mkdir -p $B/bin $B/etc $B/tmp $B/root $B/proc $B/sys $B/dev $B/project; chmod 1777 $B/tmp",
    "cp /bin/busybox $B/bin/busybox; for a in $($B/bin/busybox --list); do [ $a = busybox ] || ln -sf busybox $B/bin/$a; done",
    "printf 'root:x:0:0:root:/root:/bin/sh\\nnobody:x:65534:65534:nobody:/:/bin/false\\n' > $B/etc/passwd",
    "printf 'root:x:0:\\nnogroup:x:65534:\\n' > $B/etc/group",
    "chmod -R a+rX $B",
    setup,
    // checks write their results straight to the host (9p): what finished is there even if the guest hangs later
    "mkdir -p /host/results; chmod 777 /host/results",
  ];
  // Consecutive checks of one user form a block: one session per block, in order.
  const blocks: GuestCheck[][] = [];
  for (const c of checks) {
    const last = blocks.at(-1);
    if (last?.[0]?.as === c.as) last.push(c);
    else blocks.push([c]);
  }
  blocks.forEach((block, i) => {
    const user = block[0]?.as as string;
    const dir = "/host/results";
    const body = block.map((c) => `cm-check ${c.name} ${dir} ${quote(c.sh)}`).join("\n");
    lines.push(`cat > /tmp/checks-${i}.sh <<'CHECKS_EOF'\n${body}\nCHECKS_EOF`);
    lines.push(`echo "== checks as ${user}: $(cut -d' ' -f1 /proc/uptime) s"`);
    if (user === "root") lines.push(`(cd /root && HOME=/root bash /tmp/checks-${i}.sh)`);
    else lines.push(`su -l ${user} -c 'bash /tmp/checks-${i}.sh'`);
  });
  lines.push(`echo "== done: $(cut -d' ' -f1 /proc/uptime) s"`);
  return `${lines.join("\n")}\n`;
}

/**
 * Boots the guest once, runs `setup` (as root, before any check) and the checks, and returns
 * their results. Throws when the guest does not finish (with the console's tail).
 */
export async function bootGuest(opts: {
  image: string;
  installDir: string;
  checks: GuestCheck[];
  setup?: string;
  timeoutMs?: number;
}): Promise<BootResult> {
  const names = new Set<string>();
  for (const c of opts.checks) {
    if (!/^[a-z0-9-]+$/.test(c.name) || names.has(c.name)) throw new Error(`bad or repeated check name ${c.name}`);
    names.add(c.name);
  }
  const run = join("/var/tmp", `cm-vm-${process.pid}-${Date.now()}`);
  mkdirSync(run, { recursive: true, mode: 0o755 });
  writeFileSync(join(run, "guest.sh"), guestScript(opts.installDir, opts.checks, opts.setup ?? ""));
  writeFileSync(join(run, "install-path"), opts.installDir);
  const forced = process.env.CM_TEST_VM_ACCEL;
  accel ??= forced === "kvm" || forced === "tcg" ? forced : (await kvmWorks(opts.image)) ? "kvm" : "tcg";
  const args = [
    ...["-accel", accel, "-cpu", accel === "kvm" ? "host" : "max", "-smp", "2", "-m", "2048"],
    ...["-nodefaults", "-display", "none", "-no-reboot"],
    ...["-kernel", join(opts.image, "vmlinuz"), "-initrd", join(opts.image, "initrd.img")],
    ...["-drive", `file=${join(opts.image, "root.img")},format=raw,if=virtio,snapshot=on`],
    ...["-device", "virtio-rng-pci"],
    ...["-virtfs", `local,path=${run},mount_tag=host,security_model=none,id=host`],
    ...["-virtfs", `local,path=${opts.installDir},mount_tag=install,security_model=none,readonly=on,id=install`],
    ...["-serial", `file:${join(run, "console.log")}`],
    ...["-append", "root=/dev/vda rw console=ttyS0 panic=1 quiet cm.vm.run"],
  ];
  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? 12 * 60_000;
  const qemu = spawn("qemu-system-x86_64", args, { stdio: ["ignore", "pipe", "pipe"] });
  let qemuOut = "";
  qemu.stdout.on("data", (d) => {
    qemuOut += d;
  });
  qemu.stderr.on("data", (d) => {
    qemuOut += d;
  });
  const timer = setTimeout(() => qemu.kill("SIGKILL"), timeoutMs);
  const code = await new Promise<number | null>((resolve) => qemu.on("close", (c) => resolve(c)));
  clearTimeout(timer);
  const wallSeconds = (Date.now() - started) / 1000;
  const read = (f: string) => (existsSync(join(run, f)) ? readFileSync(join(run, f), "utf8") : "");
  try {
    if (!existsSync(join(run, "guest.rc"))) {
      throw new Error(
        `VM tests: the guest ended without a result after ${wallSeconds.toFixed(0)} s (qemu status ${code}${wallSeconds * 1000 >= timeoutMs ? ", timed out" : ""}):\n` +
          `${qemuOut.slice(-2000)}\n--- guest log:\n${read("guest.log").slice(-3000)}\n--- console:\n${read("console.log").slice(-3000)}`,
      );
    }
    const results = new Map<string, CheckResult>();
    const dir = join(run, "results");
    for (const f of existsSync(dir) ? readdirSync(dir) : []) {
      if (!f.endsWith(".rc")) continue;
      const name = f.slice(0, -3);
      results.set(name, {
        status: Number(readFileSync(join(dir, f), "utf8").trim()),
        stdout: read(`results/${name}.out`),
        stderr: read(`results/${name}.err`),
      });
    }
    return {
      results,
      log: `${read("guest.log")}\n--- checks:\n${read("checks.log")}`,
      bootSeconds: Number(read("uptime-start").trim()),
      wallSeconds,
    };
  } finally {
    if (process.env.CM_TEST_VM_KEEP !== "1") rmSync(run, { recursive: true, force: true });
  }
}
