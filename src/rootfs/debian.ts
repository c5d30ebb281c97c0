/**
 * debian[:SUITE]: a minimal Debian (--variant=minbase), bootstrapped with mmdebstrap (debootstrap
 * as a fallback, root only), kept once per suite, architecture and package set in cm's cache; every
 * bundle after the first is a local copy (`cp -a`) of the cached base.
 *
 * The cache fill (base.ts) is exclusive and atomic: an interrupted fill leaves nothing a later
 * create takes for a base.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { DEBIAN_PACKAGE, DEBIAN_SUITE } from "../core/names.ts";
import { mappingKey } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { exitStatus, findTool, lastLine, requireTool, stderrTail, track } from "../host/tools.ts";
import { extractTar } from "../tar/extract.ts";
import { xattrNote } from "../tar/xattrs.ts";
import { extractionDetail } from "../ui/progress.ts";
import { type Base, ensureBase, haveBase } from "./base.ts";
import { copyTree } from "./copy.ts";
import type { Materialized, RootfsSource, SourceContext } from "./source.ts";

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

/** How packages are installed, and from where: part of the base cache key. */
export interface AptChoice {
  /** install the packages' Recommends, as `apt-get install` does (default true) */
  recommends: boolean;
  /** mmdebstrap MIRROR arguments (URIs or one-line `deb ...` entries); empty: Debian's default */
  mirrors: readonly string[];
}

export const DEFAULT_APT: AptChoice = { recommends: true, mirrors: [] };

/**
 * The base cache key. Without packages and mirrors: `debian-SUITE-ARCH-minbase` (Recommends do not
 * matter then: cm adds none to minbase). Otherwise a hash of the sorted package set, the
 * Recommends choice and the mirrors is appended; a slim package set (no Recommends) without
 * mirrors hashes as before Recommends became the default, so bases cached then are reused for it.
 */
export function baseKey(suite: string, arch: string, packages: readonly string[], apt: AptChoice = DEFAULT_APT): string {
  const key = `debian-${suite}-${arch}-minbase`;
  if (packages.length === 0 && apt.mirrors.length === 0) return key;
  let input = [...new Set(packages)].sort().join(",");
  if (packages.length > 0 && apt.recommends) input += "\nrecommends";
  if (apt.mirrors.length > 0) input += `\nmirrors:${apt.mirrors.join("\n")}`;
  return `${key}-${createHash("sha256").update(input).digest("hex").slice(0, 12)}`;
}

/**
 * Checks one --mirror value: a URI (`http://deb.example.com/debian`, `file:///srv/repo`) or one
 * apt sources.list line (`deb [trusted=yes] copy:///srv/repo ./`). Anything else is refused:
 * mmdebstrap would paste an existing file of that name into the sources.list.
 */
export function checkMirror(text: string): string {
  if (/^deb(-src)? \S[^\n\r\0]*$/.test(text) || /^[a-z][a-z0-9+.-]*:\/\/[^\s\0]+$/.test(text)) return text;
  throw new CmError("bad-source", `invalid --mirror ${JSON.stringify(text)}`, {
    hint: "give a URI (http://deb.debian.org/debian) or one sources.list line (deb [trusted=yes] copy:///srv/repo ./)",
  });
}

export type Bootstrapper = "mmdebstrap" | "debootstrap";

/**
 * Pure: which tool bootstraps. mmdebstrap when present (it works rootless, in a user namespace),
 * else debootstrap, which needs root. `forced` ($CM_BOOTSTRAP) picks one explicitly.
 */
export function chooseBootstrapper(have: { mmdebstrap: boolean; debootstrap: boolean }, rootless: boolean, forced?: string): Bootstrapper {
  if (forced !== undefined && forced !== "" && forced !== "mmdebstrap" && forced !== "debootstrap") {
    throw new CmError("bad-env", `CM_BOOTSTRAP=${JSON.stringify(forced)} is not a bootstrap tool`, {
      hint: "use mmdebstrap or debootstrap, or unset it",
    });
  }
  const want = forced || (have.mmdebstrap ? "mmdebstrap" : have.debootstrap ? "debootstrap" : undefined);
  if (want === undefined) {
    throw new CmError("tool-missing", "neither mmdebstrap nor debootstrap is installed: cm cannot bootstrap Debian", {
      hint: "install it: apt-get install mmdebstrap (or use --from tar:FILE, dir:PATH)",
    });
  }
  if (!have[want]) throw new CmError("tool-missing", `${want} not found on this host`, { hint: `install it: apt-get install ${want}` });
  if (want === "debootstrap" && rootless) {
    throw new CmError(
      "tool-missing",
      `debootstrap needs root: cannot bootstrap Debian with it as an ordinary user${forced ? "" : " (and mmdebstrap is not installed)"}`,
      {
        hint: "install mmdebstrap (apt-get install mmdebstrap uidmap), or run cm as root",
      },
    );
  }
  return want;
}

export class DebianSource implements RootfsSource {
  readonly suite: string;
  readonly packages: string[];
  readonly description: string;
  private chosen: Bootstrapper | undefined;

  readonly apt: AptChoice;

  constructor(suite: string, packages: string[], apt: AptChoice = DEFAULT_APT) {
    if (!DEBIAN_SUITE.test(suite)) {
      throw new CmError("bad-source", `invalid Debian suite ${JSON.stringify(suite)}`, {
        hint: "for example debian:bookworm or debian:trixie",
      });
    }
    for (const p of packages) {
      if (!DEBIAN_PACKAGE.test(p))
        throw new CmError("bad-source", `invalid Debian package name ${JSON.stringify(p)}`, { hint: "give names like curl,git,python3" });
    }
    for (const m of apt.mirrors) checkMirror(m);
    this.suite = suite;
    this.packages = [...new Set(packages)].sort();
    this.apt = { recommends: apt.recommends, mirrors: [...apt.mirrors] };
    const slim = this.packages.length > 0 && !apt.recommends ? " (no Recommends)" : "";
    const mirrors = apt.mirrors.length ? ` from ${apt.mirrors.join(" + ")}` : "";
    this.description = `debian:${suite}${this.packages.length ? ` +${this.packages.join(",")}` : ""}${slim}${mirrors}`;
  }

  /**
   * The base's cache key. A range-mode base (files shifted into the user's subordinate ids) names
   * its mapping, so it is never shared with a single-id create or another user or range.
   */
  key(ctx: Pick<SourceContext, "ids">): string {
    const key = baseKey(this.suite, debianArch(), this.packages, this.apt);
    return ctx.ids ? `${key}-${mappingKey(ctx.ids)}` : key;
  }

  private get tool(): Bootstrapper {
    return this.chosen ?? "mmdebstrap";
  }

  private pick(ctx: SourceContext): Bootstrapper {
    this.chosen ??= chooseBootstrapper(
      { mmdebstrap: findTool("mmdebstrap") !== undefined, debootstrap: findTool("debootstrap") !== undefined },
      ctx.rootless,
      process.env.CM_BOOTSTRAP,
    );
    this.checkTool(this.chosen);
    return this.chosen;
  }

  check(ctx: SourceContext): void {
    // A warm cache needs no bootstrap tool at all.
    if (haveBase(ctx, this.key(ctx))) return;
    this.pick(ctx);
  }

  /** debootstrap resolves only Depends: packages with their Recommends are refused, never installed without them. */
  private checkTool(tool: Bootstrapper): void {
    if (tool === "debootstrap" && this.packages.length > 0 && this.apt.recommends) {
      throw new CmError("tool-missing", "debootstrap cannot install the packages' Recommends (apt-get install would)", {
        hint: "install mmdebstrap (apt-get install mmdebstrap), or ask for a slim bundle: --no-install-recommends",
      });
    }
  }

  /** The cached base for this suite/arch/package set, bootstrapped on first use (or --refresh). */
  base(ctx: SourceContext): Promise<Base> {
    return ensureBase(ctx, this.key(ctx), {
      what: `bootstrap ${this.description}`,
      source: this.description,
      fill: async (rootfs) => {
        this.pick(ctx);
        ctx.progress.phase(`bootstrapping ${this.description} with ${this.tool}`);
        if (this.tool === "mmdebstrap") return { tool: this.tool, note: await this.mmdebstrap(rootfs, ctx) };
        await this.debootstrap(rootfs, ctx);
        return { tool: this.tool };
      },
    });
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined> {
    const base = await this.base(ctx);
    const key = this.key(ctx);
    ctx.progress.phase(`copying the cached base ${key}`);
    try {
      if (ctx.ids) await (await import("./userns.ts")).copyInUserns(ctx.ids, join(base.dir, "rootfs"), target);
      else await copyTree(join(base.dir, "rootfs"), target);
    } finally {
      base.release();
    }
    const from = base.made ? `(bootstrapped the base ${key} with ${this.tool})` : `(from the cached base ${key})`;
    const note = base.meta?.note ? `${from} ${base.meta.note}` : from;
    return base.meta ? { sizeBytes: base.meta.sizeBytes, note } : { note };
  }

  /**
   * mmdebstrap writes a tarball to stdout; cm's extractor unpacks it (without /dev: runc provides
   * it). Resolves to a note on extended attributes that could not be applied, if any.
   */
  private async mmdebstrap(target: string, ctx: SourceContext): Promise<string | undefined> {
    const args = ["--variant=minbase", "--quiet"];
    if (this.packages.length) {
      args.push(`--include=${this.packages.join(",")}`);
      // mmdebstrap installs no Recommends unless told; its --aptopt stays in the rootfs
      // (/etc/apt/apt.conf.d/99mmdebstrap), where it would override the user's own apt settings
      // later: the customize hook removes it once the packages are in.
      if (this.apt.recommends) {
        args.push('--aptopt=APT::Install-Recommends "true"', '--customize-hook=rm -f "$1/etc/apt/apt.conf.d/99mmdebstrap"');
      }
    }
    // "--" so that a mirror is never taken for an option
    args.push("--", this.suite, "-", ...this.apt.mirrors);
    // Its own process group: when writing the tarball fails (cm gone, extraction refused),
    // mmdebstrap sends SIGHUP to its whole process group, which would otherwise include cm and
    // whatever started cm. An interrupted cm ends the group itself (below).
    const mm = track(spawn(requireTool("mmdebstrap"), args, { stdio: ["ignore", "pipe", "pipe"], detached: true }));
    const stop = () => {
      try {
        if (mm.pid !== undefined) process.kill(-mm.pid, "SIGKILL");
      } catch {
        // already gone
      }
    };
    process.prependOnceListener("SIGINT", stop);
    process.prependOnceListener("SIGTERM", stop);
    const stderr = stderrTail(mm);
    const exited = exitStatus(mm);
    let extractError: unknown;
    let note: string | undefined;
    try {
      const what = `the output of mmdebstrap for ${this.description}`;
      const onProgress = extractionDetail(ctx.progress);
      if (ctx.ids) {
        // mmdebstrap (unshare mode, as the user) writes real container ids; cm's extractor keeps them, shifted.
        const { extractInUserns, unmappedNote } = await import("./userns.ts");
        const r = await extractInUserns(ctx.ids, mm.stdout, target, { what, onProgress });
        note = [xattrNote(r.xattrs), unmappedNote(r.unmapped, ctx.ids)].filter(Boolean).join(" ") || undefined;
      } else {
        const r = await extractTar(mm.stdout, target, { rootless: ctx.rootless, what, onProgress });
        note = xattrNote(r.xattrs);
      }
    } catch (err) {
      extractError = err;
      stop();
    }
    const status = await exited;
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
    if (status !== 0 && !(extractError instanceof CmError && extractError.code === "unsafe-archive")) {
      throw new CmError(
        "bootstrap-failed",
        `mmdebstrap failed for ${this.description}: ${lastAptLine(stderr()) || `exit status ${status}`}`,
        {
          hint: ctx.rootless
            ? "as an ordinary user mmdebstrap needs subordinate ids (/etc/subuid, /etc/subgid, package uidmap) and user namespaces"
            : "check the suite and package names and that the Debian archive is reachable",
        },
      );
    }
    if (extractError !== undefined) throw extractError;
    return note;
  }

  /** debootstrap (root only) writes the tree directly. */
  private debootstrap(target: string, ctx: SourceContext): Promise<void> {
    const args = ["--variant=minbase"];
    if (this.apt.mirrors.length > 1 || this.apt.mirrors.some((m) => m.startsWith("deb"))) {
      throw new CmError("bad-source", "debootstrap takes one mirror URI, not several or a sources.list line", {
        hint: "install mmdebstrap (apt-get install mmdebstrap), or give one --mirror URI",
      });
    }
    if (this.packages.length) args.push(`--include=${this.packages.join(",")}`);
    args.push(this.suite, target, ...this.apt.mirrors); // (debootstrap has no "--"; mirrors are checked URIs)
    return new Promise((resolve, reject) => {
      // debootstrap runs chroot, mount and friends from sbin, which an ordinary PATH may lack.
      const path = [process.env.PATH ?? "", "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"].filter(Boolean).join(":");
      const child = track(
        spawn(requireTool("debootstrap"), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PATH: path } }),
      );
      let out = "";
      const collect = (d: string) => {
        out = (out + d).slice(-4000);
        const last = lastAptLine(d);
        if (last) ctx.progress.detail(last.replace(/^I: /, "").slice(0, 60));
      };
      child.stdout.setEncoding("utf8").on("data", collect);
      child.stderr.setEncoding("utf8").on("data", collect);
      child.on("error", (e) => reject(new CmError("bootstrap-failed", `could not run debootstrap: ${e.message}`)));
      child.on("close", (code) => {
        if (code === 0) return resolve();
        reject(
          new CmError("bootstrap-failed", `debootstrap failed for ${this.description}: ${lastAptLine(out) || `exit status ${code}`}`, {
            hint: "check the suite and package names and that the Debian archive is reachable",
          }),
        );
      });
    });
  }
}

/** A tool's last line without apt's "E: " / "W: " prefix. */
function lastAptLine(text: string): string {
  return lastLine(text).replace(/^[EW]: /, "");
}
