/**
 * `cm doctor`'s verdicts: a pure function from host facts to one check per line, each with what
 * to do about it. "fail" means cm cannot work as this user (and doctor exits 1); "warn" means it
 * works, with a weaker guarantee or without a feature.
 */
import type { CgroupFacts } from "../host/cgroups.ts";
import type { RuncVersion, SubidRange, UsernsFacts } from "../host/probes.ts";
import { runcCveStatus } from "./runc-cves.ts";
import { formatBytes } from "./size.ts";

export type CheckStatus = "ok" | "warn" | "fail";

export interface Check {
  id: string;
  status: CheckStatus;
  message: string;
  /** what to do (absent when all is well) */
  fix?: string;
}

export interface DoctorFacts {
  rootless: boolean;
  user: string;
  runc: { path: string; version: RuncVersion | undefined } | undefined;
  /** Debian package version of runc, when it comes from a Debian package */
  runcDebian: string | undefined;
  runsc: boolean;
  userns: UsernsFacts;
  /** newuidmap/newgidmap present and able to set ids (setuid root or file capabilities) */
  newuidmap: boolean;
  newgidmap: boolean;
  /** how they are installed ("setuid root", "file capability cap_setuid", "missing", ...) */
  idmapHow?: { newuidmap: string; newgidmap: string };
  subuid: SubidRange[];
  subgid: SubidRange[];
  cgroups: CgroupFacts;
  mmdebstrap: boolean;
  /** setfattr (package attr): file capabilities and user.* attributes from tarballs and images */
  setfattr: boolean;
  /** tini-static (package tini): the containers' init; without it cm run needs --no-init */
  init: boolean;
  dirs: { name: string; path: string; writable: boolean; reason?: string }[];
  disk: { path: string; freeBytes: number } | undefined;
  /** the host's CA bundle and what the current project's bundles trust of it (absent: no bundles here) */
  trust?: TrustFacts | undefined;
}

/** What `--host-ca` would add, per bundle of the current project. */
export interface TrustFacts {
  /** the host's bundle ($SSL_CERT_FILE or the system's), or why it could not be read */
  host: { path: string; count: number } | { error: string };
  bundles: {
    name: string;
    /** the store inside (/etc/ssl/certs/ca-certificates.crt, ...), undefined when it has none */
    store: string | undefined;
    /** subjects (a short name each) of the host's authorities the store lacks */
    missing: string[];
    /** cm.toml sets host_ca = true for this bundle's runs */
    hostCa: boolean;
  }[];
}

/** Whether an ordinary user can create a user namespace, and if not, why. */
export function usernsVerdict(f: UsernsFacts): { ok: boolean; why: string } {
  if (f.max === undefined) return { ok: false, why: "the kernel has no user namespaces (no /proc/sys/user/max_user_namespaces)" };
  if (f.max === 0) return { ok: false, why: "user.max_user_namespaces is 0" };
  if (f.unprivilegedClone === 0) return { ok: false, why: "kernel.unprivileged_userns_clone is 0" };
  if (f.apparmorRestrict === 1) return { ok: false, why: "kernel.apparmor_restrict_unprivileged_userns is 1" };
  return { ok: true, why: `user namespaces available (max ${f.max})` };
}

/** Below this, a Debian bundle (about 180 MB) plus its cached base does not fit. */
export const MIN_FREE_BYTES = 512 * 1024 * 1024;
export const LOW_FREE_BYTES = 2 * 1024 * 1024 * 1024;

export function doctorChecks(f: DoctorFacts): Check[] {
  const checks: Check[] = [];
  const add = (id: string, status: CheckStatus, message: string, fix?: string) =>
    checks.push(fix === undefined ? { id, status, message } : { id, status, message, fix });

  if (!f.runc) {
    add("runc", "fail", "runc not found", "install it: apt-get install runc");
  } else if (!f.runc.version) {
    add("runc", "fail", `${f.runc.path} did not report a version`, "reinstall runc: apt-get install --reinstall runc");
  } else {
    const v = f.runc.version;
    add(
      "runc",
      "ok",
      `runc ${v.version}${f.runcDebian ? ` (Debian package ${f.runcDebian})` : ""} at ${f.runc.path}, OCI spec ${v.spec ?? "?"}`,
    );
    add(
      "seccomp",
      v.libseccomp ? "ok" : "fail",
      v.libseccomp
        ? `runc is built with libseccomp ${v.libseccomp}: cm's seccomp profile applies`
        : "runc is built without libseccomp: cm's seccomp profile cannot apply",
      v.libseccomp ? undefined : "install a runc built with seccomp support (Debian's is)",
    );
    const statuses = runcCveStatus(v.version, f.runcDebian ? { distro: "debian", version: f.runcDebian } : undefined);
    const affected2025 = statuses.some((s) => s.affected && s.year >= 2025);
    for (const s of statuses) {
      let fix: string | undefined;
      if (s.affected) {
        fix =
          s.year >= 2025
            ? `upgrade runc to 1.2.8, 1.3.3 or newer when your distribution ships it; meanwhile run untrusted code with cm run --runtime runsc${f.runsc ? "" : " (apt-get install runsc)"}`
            : "upgrade runc (apt-get install --only-upgrade runc, or a newer upstream release)";
      }
      add(s.id, s.affected ? "warn" : "ok", `${s.affected ? "affected" : "not affected"}: ${s.summary} (${s.reason})`, fix);
    }
    if (affected2025) {
      add(
        "runtime",
        f.runsc ? "ok" : "warn",
        f.runsc ? "runsc (gVisor) is installed: cm run --runtime runsc avoids the runc 2025 CVEs" : "runsc (gVisor) is not installed",
        f.runsc ? undefined : "apt-get install runsc, then use cm run --runtime runsc for untrusted code",
      );
    }
  }

  const userns = usernsVerdict(f.userns);
  if (f.rootless) {
    add(
      "userns",
      userns.ok ? "ok" : "fail",
      userns.why,
      userns.ok
        ? undefined
        : "enable them: sysctl -w kernel.unprivileged_userns_clone=1 user.max_user_namespaces=15000 (as root), or run cm as root",
    );
  } else {
    add(
      "userns",
      userns.ok ? "ok" : "warn",
      `${userns.why}${f.rootless ? "" : " (root runs use none)"}`,
      userns.ok ? undefined : "only needed for rootless use",
    );
  }

  const tools = f.newuidmap && f.newgidmap;
  const ranges = f.subuid.length > 0 && f.subgid.length > 0;
  if (f.rootless) {
    const describe = (r: SubidRange[]) => r.map((x) => `${x.start}+${x.count}`).join(",") || "none";
    const how = f.idmapHow
      ? `newuidmap ${f.idmapHow.newuidmap}, newgidmap ${f.idmapHow.newgidmap}`
      : `newuidmap/newgidmap ${tools ? "present" : "missing"}`;
    const message = `${how}; subuid ${describe(f.subuid)}, subgid ${describe(f.subgid)} for ${f.user}`;
    const mode =
      tools && ranges
        ? "new bundles map container root to you and ids 1..N to your first ranges (--userns range)"
        : "new bundles map only your own id (--userns single): packages with system users or groups fail to install";
    add(
      "subids",
      tools && ranges ? "ok" : "warn",
      `${message}; ${mode}`,
      tools && ranges
        ? undefined
        : `${tools ? "" : "apt-get install uidmap; "}${ranges ? "" : `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${f.user} (as root)`}`.replace(
            /; $/,
            "",
          ),
    );
  } else {
    add("subids", "ok", "root runs need no subordinate ids");
  }

  const v = f.cgroups.version;
  let limits: string;
  let limitsStatus: CheckStatus = "ok";
  let limitsFix: string | undefined;
  if (!f.rootless) limits = "memory limits enforced (root)";
  else if (v === "v1") {
    limits = "no limits for rootless containers (an ordinary user cannot create cgroups on v1)";
    limitsStatus = "warn";
    limitsFix = "run cm as root for --memory, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate controllers";
  } else {
    const enforceable = ["memory", "cpu", "pids"].filter((c) => f.cgroups.delegated.includes(c));
    limits = enforceable.length ? `enforceable for you: ${enforceable.join(", ")}` : "no controllers delegated to your cgroup";
    if (!enforceable.includes("memory")) {
      limitsStatus = "warn";
      limitsFix = "delegate controllers to your user (systemd: Delegate=yes in user@.service)";
    }
  }
  add("cgroups", limitsStatus, `cgroup ${v}${v === "v1" ? " (or hybrid)" : ""}: ${limits}; private cgroup namespace on`, limitsFix);

  add(
    "mmdebstrap",
    f.mmdebstrap ? "ok" : "warn",
    f.mmdebstrap ? "mmdebstrap present (debian: sources)" : "mmdebstrap missing: only tar: and dir: sources work",
    f.mmdebstrap ? undefined : "apt-get install mmdebstrap",
  );

  add(
    "init",
    f.init ? "ok" : "warn",
    f.init ? "tini-static present (the containers' init, PID 1)" : "tini-static missing: cm run is refused unless --no-init",
    f.init ? undefined : "apt-get install tini",
  );

  add(
    "setfattr",
    f.setfattr ? "ok" : "warn",
    f.setfattr
      ? "setfattr present (file capabilities from tarballs and images are kept)"
      : "setfattr missing: file capabilities and user.* attributes in tarballs and images are not applied",
    f.setfattr ? undefined : "apt-get install attr",
  );

  for (const d of f.dirs) {
    add(
      `dir-${d.name}`,
      d.writable ? "ok" : "fail",
      `${d.name} directory ${d.path} ${d.writable ? "writable" : `not writable${d.reason ? ` (${d.reason})` : ""}`}`,
      d.writable
        ? undefined
        : `fix its permissions, or set ${d.name === "data" ? "CM_HOME" : d.name === "cache" ? "CM_CACHE_DIR" : "CM_STATE_DIR"} to a directory you own`,
    );
  }

  if (f.trust) for (const c of trustChecks(f.trust)) checks.push(c);

  if (!f.disk) add("disk", "warn", "free disk space unknown", "check that the data directory's filesystem is mounted");
  else {
    const free = formatBytes(f.disk.freeBytes);
    const status: CheckStatus = f.disk.freeBytes < MIN_FREE_BYTES ? "fail" : f.disk.freeBytes < LOW_FREE_BYTES ? "warn" : "ok";
    add(
      "disk",
      status,
      `${free} free for ${f.disk.path}`,
      status === "ok" ? undefined : "free some space (cm delete removes bundles; cm list shows sizes)",
    );
  }
  return checks;
}

/**
 * Whether each bundle trusts what the host trusts (one check per bundle, id `ca-BUNDLE`): "warn"
 * when the host trusts authorities the bundle's own store lacks and its runs do not use
 * `--host-ca` from cm.toml (a TLS-inspecting proxy's authority is the usual case: `npm ci` fails
 * with SELF_SIGNED_CERT_IN_CHAIN inside); the fix names the flag and the key.
 */
export function trustChecks(t: TrustFacts): Check[] {
  if ("error" in t.host) {
    return t.bundles.length === 0
      ? []
      : [
          {
            id: "host-ca",
            status: "warn",
            message: `the host's CA bundle: ${t.host.error}`,
            fix: "set SSL_CERT_FILE to the PEM bundle your host trusts",
          },
        ];
  }
  const host = t.host;
  return t.bundles.map((b): Check => {
    const id = `ca-${b.name}`;
    if (b.missing.length === 0) {
      return { id, status: "ok", message: `bundle ${b.name} trusts every authority the host trusts (${host.count} in ${host.path})` };
    }
    if (b.hostCa) {
      return {
        id,
        status: "ok",
        message: `bundle ${b.name}: cm.toml sets host_ca, so its runs trust the host's ${host.count} authorities (${host.path})`,
      };
    }
    const names = b.missing.slice(0, 3).join("; ") + (b.missing.length > 3 ? `; and ${b.missing.length - 3} more` : "");
    const message =
      b.store === undefined
        ? `bundle ${b.name} has no CA store: it trusts none of the ${host.count} authorities the host trusts (${host.path})`
        : `bundle ${b.name} does not trust ${b.missing.length} of the authorities the host trusts (${host.path}): ${names}`;
    const key = `host_ca = true in cm.toml's [run] (or [bundle.${b.name}.run])`;
    return {
      id,
      status: "warn",
      message,
      fix:
        b.store === undefined
          ? `cm run ${b.name} --host-ca, or ${key}; or install ca-certificates in it for Debian's own`
          : `cm run ${b.name} --host-ca, or ${key}`,
    };
  });
}

export function doctorFailed(checks: Check[]): boolean {
  return checks.some((c) => c.status === "fail");
}

export function formatChecks(checks: Check[]): string {
  const width = Math.max(...checks.map((c) => c.id.length));
  return checks
    .map((c) => `${c.status.toUpperCase().padEnd(4)}  ${c.id.padEnd(width)}  ${c.message}${c.fix ? ` -- fix: ${c.fix}` : ""}`)
    .join("\n");
}
