/**
 * debian[:SUITE]: a minimal Debian bootstrapped with mmdebstrap (--variant=minbase), kept once per
 * suite, architecture and package set in cm's cache; every bundle after the first is a local copy.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { join } from "node:path";
import { CmError } from "../errors.ts";
import { removeTree } from "../host/fs.ts";
import { requireTool, track } from "../host/tools.ts";
import { waitLock } from "../store/lock.ts";
import { copyTree } from "./copy.ts";
import type { RootfsSource, SourceContext } from "./source.ts";

const SUITE = /^[a-z][a-z0-9.-]{0,31}$/;
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;

export function debianArch(nodeArch: string = process.arch): string {
  const map: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "armhf",
    ia32: "i386",
    ppc64: "ppc64el",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  return map[nodeArch] ?? nodeArch;
}

export function baseKey(suite: string, arch: string, packages: readonly string[]): string {
  const key = `debian-${suite}-${arch}-minbase`;
  if (packages.length === 0) return key;
  const sorted = [...new Set(packages)].sort().join(",");
  return `${key}-${createHash("sha256").update(sorted).digest("hex").slice(0, 12)}`;
}

export class DebianSource implements RootfsSource {
  readonly suite: string;
  readonly packages: string[];
  readonly description: string;

  constructor(suite: string, packages: string[]) {
    if (!SUITE.test(suite)) {
      throw new CmError("bad-source", `invalid Debian suite ${JSON.stringify(suite)}`, {
        hint: "for example debian:bookworm or debian:trixie",
      });
    }
    for (const p of packages) {
      if (!PACKAGE.test(p))
        throw new CmError("bad-source", `invalid Debian package name ${JSON.stringify(p)}`, { hint: "give names like curl,git,python3" });
    }
    this.suite = suite;
    this.packages = [...new Set(packages)].sort();
    this.description = `debian:${suite}${this.packages.length ? ` +${this.packages.join(",")}` : ""}`;
  }

  check(): void {
    requireTool("mmdebstrap");
    requireTool("tar");
  }

  /** The cached base for this suite/arch/package set, bootstrapped on first use. */
  async base(ctx: SourceContext): Promise<string> {
    const bases = join(ctx.cache, "bases");
    const key = baseKey(this.suite, debianArch(), this.packages);
    const dir = join(bases, key);
    mkdirSync(bases, { recursive: true, mode: 0o755 });
    if (existsSync(dir) && !ctx.refresh) return dir;
    const lock = await waitLock(join(bases, `.${key}.lock`), () =>
      ctx.progress.phase(`waiting for another cm to bootstrap ${this.description}`),
    );
    try {
      // Whoever held the lock may have just built it.
      if (existsSync(dir) && !ctx.refresh) return dir;
      const tmp = join(bases, `.${key}.tmp-${process.pid}`);
      removeTree(tmp);
      mkdirSync(join(tmp, "rootfs"), { recursive: true, mode: 0o755 });
      ctx.progress.phase(`bootstrapping ${this.description} with mmdebstrap`);
      try {
        await this.bootstrap(join(tmp, "rootfs"), ctx);
      } catch (err) {
        removeTree(tmp);
        throw err;
      }
      if (existsSync(dir)) {
        const old = join(bases, `.${key}.old-${process.pid}`);
        renameSync(dir, old);
        renameSync(tmp, dir);
        removeTree(old);
      } else {
        renameSync(tmp, dir);
      }
      return dir;
    } finally {
      lock.release();
    }
  }

  async materialize(target: string, ctx: SourceContext): Promise<void> {
    const base = await this.base(ctx);
    ctx.progress.phase("copying the cached base");
    await copyTree(join(base, "rootfs"), target);
  }

  /** mmdebstrap writes a tarball to stdout; tar extracts it (without /dev: runc provides /dev). */
  private bootstrap(target: string, ctx: SourceContext): Promise<void> {
    const mmdebstrap = requireTool("mmdebstrap");
    const tar = requireTool("tar");
    const args = ["--variant=minbase", "--quiet"];
    if (this.packages.length) args.push(`--include=${this.packages.join(",")}`);
    args.push(this.suite, "-");
    const tarArgs = ["-x", "-C", target, "--exclude=./dev/*", "--numeric-owner"];
    if (ctx.rootless) tarArgs.push("--no-same-owner");
    return new Promise((resolve, reject) => {
      const mm = track(spawn(mmdebstrap, args, { stdio: ["ignore", "pipe", "pipe"] }));
      const tx = track(spawn(tar, tarArgs, { stdio: ["pipe", "ignore", "pipe"] }));
      mm.stdout.pipe(tx.stdin);
      let mmErr = "";
      let txErr = "";
      mm.stderr.setEncoding("utf8").on("data", (d: string) => {
        mmErr = (mmErr + d).slice(-4000);
      });
      tx.stderr.setEncoding("utf8").on("data", (d: string) => {
        txErr = (txErr + d).slice(-4000);
      });
      let pending = 2;
      let failure: CmError | undefined;
      const finish = () => {
        if (--pending > 0) return;
        if (failure) reject(failure);
        else resolve();
      };
      mm.on("error", (e) => {
        failure ??= new CmError("bootstrap-failed", `could not run mmdebstrap: ${e.message}`);
      });
      mm.on("close", (code) => {
        if (code !== 0) {
          const why = lastLines(mmErr) || `exit status ${code}`;
          failure ??= new CmError("bootstrap-failed", `mmdebstrap failed for ${this.description}: ${why}`, {
            hint: ctx.rootless
              ? "as an ordinary user mmdebstrap needs subordinate ids (/etc/subuid, /etc/subgid, package uidmap) and user namespaces; see `mmdebstrap --help`"
              : "check the suite and package names and that the Debian archive is reachable",
          });
        }
        finish();
      });
      tx.on("close", (code) => {
        if (code !== 0) failure ??= new CmError("bootstrap-failed", `extracting the bootstrap failed: ${lastLines(txErr)}`);
        finish();
      });
    });
  }
}

function lastLines(text: string): string {
  return text
    .trim()
    .split("\n")
    .filter(Boolean)
    .slice(-1)
    .join(" ")
    .replace(/^[EW]: /, "");
}
