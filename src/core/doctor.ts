/**
 * `cm doctor`'s verdicts: a pure function from host facts to one check per line, each with what
 * to do about it. "fail" means cm cannot work as this user (and doctor exits 1); "warn" means it
 * works, with a weaker guarantee or without a feature.
 */
import type { CgroupFacts } from "../host/cgroups.ts";
import type { RuncVersion, SubidRange, UsernsFacts } from "../host/probes.ts";
import { delegateFix } from "./limits.ts";
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

/** Persisting a sysctl: a file in /etc/sysctl.d (read at boot by systemd-sysctl and procps). */
const SYSCTL_FILE = "/etc/sysctl.d/90-cm-userns.conf";

/**
 * Whether an ordinary user can create a user namespace, and if not, why and the fix. The causes,
 * from what the kernel exposes under /proc/sys:
 *   user.max_user_namespaces = 0                       any kernel: the limit is zero
 *   kernel.unprivileged_userns_clone = 0               Debian's (and older Ubuntu's) kernels: a
 *                                                      switch only their patch has (Debian 10 and earlier shipped it off)
 *   kernel.apparmor_restrict_unprivileged_userns = 1   Ubuntu 23.10 and later: a user namespace made by
 *                                                      an unconfined program gets no capabilities
 *                                                      unless an AppArmor profile allows `userns`
 */
export function usernsVerdict(f: UsernsFacts): { ok: boolean; why: string; fix?: string } {
  const persist = (kv: string) => `as root: sysctl -w ${kv}, and keep it: echo ${kv} > ${SYSCTL_FILE}`;
  if (f.max === undefined) {
    return {
      ok: false,
      why: "the kernel has no user namespaces (no /proc/sys/user/max_user_namespaces)",
      fix: "use a kernel built with CONFIG_USER_NS (every distribution kernel is), or run cm as root",
    };
  }
  if (f.max === 0)
    return { ok: false, why: "user.max_user_namespaces is 0: no user namespaces at all", fix: persist("user.max_user_namespaces=15000") };
  if (f.unprivilegedClone === 0) {
    return {
      ok: false,
      why: "kernel.unprivileged_userns_clone is 0 (Debian's kernel switch): ordinary users cannot make user namespaces",
      fix: persist("kernel.unprivileged_userns_clone=1"),
    };
  }
  if (f.apparmorRestrict === 1) {
    return {
      ok: false,
      why: "kernel.apparmor_restrict_unprivileged_userns is 1 (Ubuntu 23.10+): runc's user namespace gets no capabilities",
      fix: `${persist("kernel.apparmor_restrict_unprivileged_userns=0")}; or allow it for runc only: an AppArmor profile /etc/apparmor.d/cm-runc with 'abi <abi/4.0>, include <tunables/global> profile cm-runc /usr/{,s}bin/runc flags=(unconfined) { userns, }', loaded with apparmor_parser -r /etc/apparmor.d/cm-runc`,
    };
  }
  return { ok: true, why: `user namespaces available (max ${f.max})` };
}

/** Below this, a Debian bundle (about 180 MB) plus its cached base does not fit. */
export const MIN_FREE_BYTES = 512 * 1024 * 1024;
export const LOW_FREE_BYTES = 2 * 1024 * 1024 * 1024;

/** One check; `fix` is left out when there is nothing to do. */
function check(id: string, status: CheckStatus, message: string, fix?: string): Check {
  return fix === undefined ? { id, status, message } : { id, status, message, fix };
}

/** The checks, in the order `cm doctor` prints them. */
export function doctorChecks(f: DoctorFacts): Check[] {
  return [
    ...runcChecks(f),
    usernsCheck(f),
    subidsCheck(f),
    ...cgroupChecks(f),
    ...toolChecks(f),
    ...f.dirs.map(dirCheck),
    ...(f.trust ? trustChecks(f.trust) : []),
    diskCheck(f),
  ];
}

/** runc, its seccomp support, its known CVEs and (when it has a 2025 one) whether runsc is there. */
function runcChecks(f: DoctorFacts): Check[] {
  if (!f.runc) return [check("runc", "fail", "runc not found", "install it: apt-get install runc")];
  const v = f.runc.version;
  if (!v) return [check("runc", "fail", `${f.runc.path} did not report a version`, "reinstall runc: apt-get install --reinstall runc")];
  const checks = [
    check(
      "runc",
      "ok",
      `runc ${v.version}${f.runcDebian ? ` (Debian package ${f.runcDebian})` : ""} at ${f.runc.path}, OCI spec ${v.spec ?? "?"}`,
    ),
    check(
      "seccomp",
      v.libseccomp ? "ok" : "fail",
      v.libseccomp
        ? `runc is built with libseccomp ${v.libseccomp}: cm's seccomp profile applies`
        : "runc is built without libseccomp: cm's seccomp profile cannot apply",
      v.libseccomp ? undefined : "install a runc built with seccomp support (Debian's is)",
    ),
  ];
  const statuses = runcCveStatus(v.version, f.runcDebian ? { distro: "debian", version: f.runcDebian } : undefined);
  for (const s of statuses) {
    let fix: string | undefined;
    if (s.affected) {
      fix =
        s.year >= 2025
          ? `upgrade runc to 1.2.8, 1.3.3 or newer when your distribution ships it; meanwhile run untrusted code with cm run --runtime runsc${f.runsc ? "" : " (apt-get install runsc)"}`
          : "upgrade runc (apt-get install --only-upgrade runc, or a newer upstream release)";
    }
    checks.push(check(s.id, s.affected ? "warn" : "ok", `${s.affected ? "affected" : "not affected"}: ${s.summary} (${s.reason})`, fix));
  }
  if (statuses.some((s) => s.affected && s.year >= 2025)) {
    checks.push(
      check(
        "runtime",
        f.runsc ? "ok" : "warn",
        f.runsc ? "runsc (gVisor) is installed: cm run --runtime runsc avoids the runc 2025 CVEs" : "runsc (gVisor) is not installed",
        f.runsc ? undefined : "apt-get install runsc, then use cm run --runtime runsc for untrusted code",
      ),
    );
  }
  return checks;
}

function usernsCheck(f: DoctorFacts): Check {
  const userns = usernsVerdict(f.userns);
  if (f.rootless) {
    return check("userns", userns.ok ? "ok" : "fail", userns.why, userns.fix);
  }
  return check(
    "userns",
    userns.ok ? "ok" : "warn",
    `${userns.why} (root runs use none)`,
    userns.ok ? undefined : "only needed for rootless use",
  );
}

function subidsCheck(f: DoctorFacts): Check {
  if (!f.rootless) return check("subids", "ok", "root runs need no subordinate ids");
  const tools = f.newuidmap && f.newgidmap;
  const ranges = f.subuid.length > 0 && f.subgid.length > 0;
  const describe = (r: SubidRange[]) => r.map((x) => `${x.start}+${x.count}`).join(",") || "none";
  const how = f.idmapHow
    ? `newuidmap ${f.idmapHow.newuidmap}, newgidmap ${f.idmapHow.newgidmap}`
    : `newuidmap/newgidmap ${tools ? "present" : "missing"}`;
  const message = `${how}; subuid ${describe(f.subuid)}, subgid ${describe(f.subgid)} for ${f.user}`;
  const mode =
    tools && ranges
      ? "new bundles map container root to you and ids 1..N to your first ranges (--userns range)"
      : "new bundles map only your own id (--userns single): packages with system users or groups fail to install";
  const fixes = [
    ...(tools ? [] : ["apt-get install uidmap"]),
    ...(ranges ? [] : [`usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${f.user} (as root)`]),
  ];
  return check("subids", tools && ranges ? "ok" : "warn", `${message}; ${mode}`, fixes.length > 0 ? fixes.join("; ") : undefined);
}

/** cgroups: what limits can be enforced for this user, and (systemd hosts) whether the scope can be made. */
function cgroupChecks(f: DoctorFacts): Check[] {
  const c = f.cgroups;
  if (c.version === "v1") {
    if (!f.rootless)
      return [check("cgroups", "ok", "cgroup v1 (or hybrid): limits enforced (root, cgroupfs); private cgroup namespace on")];
    return [
      check(
        "cgroups",
        "warn",
        "cgroup v1 (or hybrid): no limits for rootless containers (an ordinary user cannot create cgroups on v1)",
        "run cm as root for --memory, --cpus, --pids-limit, or boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
      ),
    ];
  }
  return [cgroupV2Check(f), ...(c.systemd ? [systemdCheck(f)] : [])];
}

function cgroupV2Check(f: DoctorFacts): Check {
  const c = f.cgroups;
  if (!f.rootless) return check("cgroups", "ok", "cgroup v2: limits enforced (root); private cgroup namespace on");
  if (!c.systemd) {
    return check(
      "cgroups",
      "warn",
      "cgroup v2 without systemd: no limits for rootless containers (cm places them with your user's systemd)",
      "run cm as root for limits",
    );
  }
  if (!c.userManager) {
    return check(
      "cgroups",
      "warn",
      `cgroup v2: your user's systemd (user@UID.service) is not running, so no limits rootless`,
      "run cm in a login session (ssh, console, desktop, su -l), or as root: loginctl enable-linger USER",
    );
  }
  const has = c.userManager.controllers;
  const missing = ["cpu", "memory", "pids"].filter((x) => !has.includes(x));
  return check(
    "cgroups",
    missing.length ? "warn" : "ok",
    `cgroup v2: controllers delegated to ${f.user} (${c.userManager.path}): ${has.join(" ") || "none"}${missing.length ? `; not delegated: ${missing.join(" ")} (${missing.map((m) => LIMIT_FLAG[m]).join(", ")} refused)` : ""}`,
    missing.length ? delegateFix() : undefined,
  );
}

function systemdCheck(f: DoctorFacts): Check {
  const c = f.cgroups;
  if (!f.rootless) {
    return check(
      "systemd",
      "ok",
      c.bus
        ? `systemd with the system bus at ${c.bus}: limits go in a transient scope in system.slice`
        : "systemd without a reachable system bus: limits use cgroupfs",
    );
  }
  const ok = c.userManager !== undefined && c.bus !== undefined;
  return check(
    "systemd",
    ok ? "ok" : "warn",
    ok
      ? `your systemd (${c.userManager?.path.split("/").pop()}) and its D-Bus at ${c.bus} are reachable: limits go in a transient scope`
      : `your user's ${c.userManager ? "" : "systemd manager and "}D-Bus ${c.bus ? "" : "(no $XDG_RUNTIME_DIR/bus) "}not reachable: limits are refused (runs without limits are not affected)`,
    ok ? undefined : "install dbus-user-session (as root: apt-get install dbus-user-session), and run cm in a login session",
  );
}

function toolChecks(f: DoctorFacts): Check[] {
  return [
    check(
      "mmdebstrap",
      f.mmdebstrap ? "ok" : "warn",
      f.mmdebstrap ? "mmdebstrap present (debian: sources)" : "mmdebstrap missing: only tar: and dir: sources work",
      f.mmdebstrap ? undefined : "apt-get install mmdebstrap",
    ),
    check(
      "init",
      f.init ? "ok" : "warn",
      f.init ? "tini-static present (the containers' init, PID 1)" : "tini-static missing: cm run is refused unless --no-init",
      f.init ? undefined : "apt-get install tini",
    ),
    check(
      "setfattr",
      f.setfattr ? "ok" : "warn",
      f.setfattr
        ? "setfattr present (file capabilities from tarballs and images are kept)"
        : "setfattr missing: file capabilities and user.* attributes in tarballs and images are not applied",
      f.setfattr ? undefined : "apt-get install attr",
    ),
  ];
}

function dirCheck(d: DoctorFacts["dirs"][number]): Check {
  const variable = d.name === "data" ? "CM_HOME" : d.name === "cache" ? "CM_CACHE_DIR" : "CM_STATE_DIR";
  return check(
    `dir-${d.name}`,
    d.writable ? "ok" : "fail",
    `${d.name} directory ${d.path} ${d.writable ? "writable" : `not writable${d.reason ? ` (${d.reason})` : ""}`}`,
    d.writable ? undefined : `fix its permissions, or set ${variable} to a directory you own`,
  );
}

function diskCheck(f: DoctorFacts): Check {
  if (!f.disk) return check("disk", "warn", "free disk space unknown", "check that the data directory's filesystem is mounted");
  const status: CheckStatus = f.disk.freeBytes < MIN_FREE_BYTES ? "fail" : f.disk.freeBytes < LOW_FREE_BYTES ? "warn" : "ok";
  return check(
    "disk",
    status,
    `${formatBytes(f.disk.freeBytes)} free for ${f.disk.path}`,
    status === "ok" ? undefined : "free some space (cm delete removes bundles; cm list shows sizes)",
  );
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

/**
 * The cgroup lines: the version, which limits can be enforced for this user and, on systemd
 * hosts, whether the systemd cgroup driver can reach its manager (core/limits.ts: rootless limits
 * go through the user's systemd, over the user's D-Bus).
 */

const LIMIT_FLAG: Record<string, string> = { cpu: "--cpus", memory: "--memory", pids: "--pids-limit" };

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
