/**
 * What cm adds on top of runc's example spec to make a sandbox of it, as transforms (pure):
 * the masked and read-only paths of the mainstream engines, a private cgroup namespace, and the
 * default seccomp profile. SECURITY.md lists each with the test that proves it.
 */
import { defaultSeccomp } from "./seccomp.ts";
import type { Transform } from "./transforms.ts";
import type { Seccomp } from "./types.ts";

/**
 * Paths hidden from the container (an empty read-only tmpfs over directories, /dev/null over
 * files): the union of Docker's (moby oci/defaults.go) and Podman's (containers/common) lists.
 * Paths missing on a host are skipped by runc.
 */
export const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/sys/dev/block",
  "/sys/devices/virtual/powercap",
  "/sys/firmware",
  "/sys/fs/selinux",
];

/** Paths bind-mounted read-only over themselves (Docker's and Podman's list). */
export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export function maskedPaths(): Transform {
  return (spec) => ({ ...spec, linux: { ...spec.linux, maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] } });
}

/**
 * A private cgroup namespace: the container sees its own cgroup as "/" in /proc/self/cgroup and
 * below /sys/fs/cgroup, not the host's cgroup tree layout. (runc supports it on v1 and v2.)
 */
export function cgroupNamespace(): Transform {
  return (spec) => ({
    ...spec,
    linux: { ...spec.linux, namespaces: [...spec.linux.namespaces.filter((n) => n.type !== "cgroup"), { type: "cgroup" }] },
  });
}

/**
 * /sys/fs/cgroup read-only as a whole: on cgroup v1 the runtime mounts a tmpfs there (writable as
 * root) and the hierarchies read-only below it; listed in readonlyPaths, the tmpfs is remounted
 * read-only too. Applied at every run, so bundles made before get it.
 */
export function cgroupReadOnly(): Transform {
  return (spec) =>
    spec.linux.readonlyPaths.includes("/sys/fs/cgroup")
      ? spec
      : { ...spec, linux: { ...spec.linux, readonlyPaths: [...spec.linux.readonlyPaths, "/sys/fs/cgroup"] } };
}

/** The seccomp profile: cm's default for `arch`, a given profile, or none (null: unconfined). */
export function seccomp(profile: Seccomp | null): Transform {
  return (spec) => {
    const linux = { ...spec.linux };
    if (profile === null) delete linux.seccomp;
    else linux.seccomp = profile;
    return { ...spec, linux };
  };
}

/** All of the above with cm's default seccomp profile for the machine architecture `arch`. */
export function hardening(arch: string): Transform {
  return (spec) => seccomp(defaultSeccomp(arch) ?? null)(cgroupNamespace()(maskedPaths()(spec)));
}
