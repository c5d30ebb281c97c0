/**
 * Resource limits and cgroups: whether a limit can be enforced for this user on this host, and
 * which cgroup driver a run uses. Pure decisions over host facts (host/cgroups.ts reads them).
 *
 * The driver (measured with runc 1.1.5 and crun 1.8.1 on Debian 12, systemd 252, cgroup v2; see
 * ARCHITECTURE.md "cgroups"):
 *   - no limit asked for: the runtime's default (cgroupfs). Nothing to place, no D-Bus, no scope:
 *     rootless runc/crun leave the container in the caller's cgroup when they may not make one.
 *   - a limit on a systemd + cgroup v2 host: the runtime's systemd driver (`--systemd-cgroup`),
 *     the container in a transient scope `cm-<id>.scope` below `user.slice` of the user's own
 *     systemd (rootless, over the user's D-Bus) or of the system's (root). This is the only way an
 *     ordinary user gets a cgroup there: the login session's cgroup belongs to root, runc's
 *     cgroupfs driver then fails ("rootless needs no limits + no cgrouppath"), and crun's cgroupfs
 *     driver starts the container with the limit silently ignored.
 *   - a limit elsewhere (cgroup v1, or v2 without systemd): cgroupfs, as root only.
 */
import { CmError } from "../errors.ts";
import type { CgroupFacts } from "../host/cgroups.ts";
import { formatBytes } from "./size.ts";

export type Limit = "memory" | "cpu" | "pids";
export type CgroupDriver = "cgroupfs" | "systemd";

const FLAG: Record<Limit, string> = { memory: "--memory", cpu: "--cpus", pids: "--pids-limit" };

/** The controllers systemd documents for full delegation to a user (systemd.resource-control(5), "Delegate="). */
export const DELEGATE_LINE = "Delegate=cpu cpuset io memory pids";
/** The drop-in that delegates them to every user's manager. */
export const DELEGATE_DROPIN = "/etc/systemd/system/user@.service.d/delegate.conf";

/** The exact commands (as root) that delegate all controllers to users, and how they take effect. */
export function delegateFix(): string {
  return `as root: mkdir -p ${DELEGATE_DROPIN.slice(0, DELEGATE_DROPIN.lastIndexOf("/"))} && printf '[Service]\\n${DELEGATE_LINE}\\n' > ${DELEGATE_DROPIN} && systemctl daemon-reload; then log out and in again (or reboot)`;
}

/** The driver a run uses: systemd's only where it is needed (a limit on a systemd + cgroup v2 host) and reachable. */
export function cgroupDriver(facts: CgroupFacts, rootless: boolean, wantsLimits: boolean): CgroupDriver {
  if (!wantsLimits || facts.version !== "v2" || !facts.systemd) return "cgroupfs";
  // As root without a system bus, cgroupfs works too (root may make cgroups anywhere).
  if (!rootless && !facts.bus) return "cgroupfs";
  return "systemd";
}

/**
 * `linux.cgroupsPath` for the systemd driver: "slice:prefix:name" makes the unit
 * `<prefix>-<name>.scope` in `<slice>` (runc's and crun's systemd driver syntax). user.slice of
 * the user's manager rootless; system.slice of the system's as root (as Docker's systemd driver).
 */
export function systemdCgroupsPath(rootless: boolean, id: string): string {
  return `${rootless ? "user.slice" : "system.slice"}:cm:${id}`;
}

/**
 * Where an OOM kill in a container's systemd scope is still counted after systemd removed the
 * empty scope: an ancestor whose memory.events (hierarchical) always exists. Rootless the user's
 * manager `user@UID.service` (memory is delegated to it; its `user.slice`, the scope's parent, has
 * the memory controller only while a unit in it asks for it: measured, a first limited run found
 * no memory.events there); as root `system.slice`. undefined for any other cgroupsPath (cgroupfs).
 */
export function systemdScopeParent(cgroupsPath: string | undefined, uid: number): string | undefined {
  const m = /^(user|system)\.slice:cm:[0-9a-f]{12}$/.exec(cgroupsPath ?? "");
  if (!m) return undefined;
  return m[1] === "user" ? `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service` : "/sys/fs/cgroup/system.slice";
}

/** The name of the scope the systemd driver makes for container `id`. */
export function scopeName(id: string): string {
  return `cm-${id}.scope`;
}

/**
 * Returns nothing when the limit can be enforced; throws a CmError that says why not and what
 * would help. `label` names the limit in the message (default: its flag, "--memory").
 */
export function checkLimitEnforceable(limit: Limit, rootless: boolean, cgroups: CgroupFacts, label = FLAG[limit]): void {
  if (!rootless) return;
  const flag = label;
  const refuse = (why: string, hint: string) =>
    new CmError("limit-unsupported", `${flag} cannot be enforced for a rootless container on this host: ${why}`, { hint });
  if (cgroups.version === "v1") {
    throw refuse(
      "it has cgroup v1, where an ordinary user cannot create cgroups",
      "run cm as root for limits, or boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate controllers to your user",
    );
  }
  if (!cgroups.systemd) {
    throw refuse(
      "cgroup v2 without systemd: cm places rootless containers with your user's systemd, and there is none",
      "run cm as root for limits",
    );
  }
  if (!cgroups.userManager) {
    throw refuse(
      "your user's systemd (user@UID.service) is not running",
      "run cm in a login session (ssh, console or desktop login; su -l or machinectl shell, not plain su or sudo -u), or as root: loginctl enable-linger USER",
    );
  }
  if (!cgroups.bus) {
    throw refuse(
      "your user's D-Bus is not reachable (no $XDG_RUNTIME_DIR/bus)",
      "install dbus-user-session (as root: apt-get install dbus-user-session), and run cm in a login session",
    );
  }
  const controller = limit;
  if (!cgroups.userManager.controllers.includes(controller)) {
    const has = cgroups.userManager.controllers.join(" ") || "none";
    throw refuse(`the ${controller} controller is not delegated to your user (${cgroups.userManager.path} has: ${has})`, delegateFix());
  }
}

/** Below this runc's own init cannot start; docker refuses less than 6MB for the same reason. */
export const MIN_MEMORY = 6 * 1024 * 1024;

/** Why a memory limit of `bytes` is too small ("a container needs at least 6MiB"), or undefined when it is enough. */
export function memoryTooSmall(bytes: number): string | undefined {
  return bytes < MIN_MEMORY ? `a container needs at least ${formatBytes(MIN_MEMORY)}` : undefined;
}
