/**
 * Small, composable changes to a spec. Each takes a spec and returns a new one; none reads the
 * environment, the filesystem or the current uid: every fact comes in as an argument.
 */
import { type IdMap, idMappings } from "../userns.ts";
import { DEFAULT_PATH } from "./base.ts";
import type { OciSpec } from "./types.ts";

export type Transform = (spec: OciSpec) => OciSpec;

export const PROJECT_MOUNT = "/project";

/**
 * The capabilities a container gets: the default set of Podman and Docker minus NET_RAW, MKNOD and
 * AUDIT_WRITE (as Podman 4 does). Enough for package managers and ordinary tools (chown, setuid
 * to a service user, binding ports below 1024, chroot); nothing that reaches the kernel's global
 * state (no SYS_ADMIN, NET_ADMIN, SYS_PTRACE, SYS_MODULE, MKNOD). In a rootless container these
 * capabilities only act inside its user namespace.
 */
export const DEFAULT_CAPABILITIES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP",
  "CAP_SETGID",
  "CAP_SETPCAP",
  "CAP_SETUID",
  "CAP_SYS_CHROOT",
];

/**
 * Rootless: a user namespace in which container root (0) is the invoking user; with `map` (range
 * mode, core/userns.ts) container ids 1..N are the user's subordinate range too, and runc writes
 * the two-entry mapping with newuidmap/newgidmap. Without it nothing else is mapped.
 */
export function userNamespace(uid: number, gid: number, map?: IdMap): Transform {
  const { uidMappings, gidMappings } = idMappings(uid, gid, map);
  return (spec) => ({
    ...spec,
    linux: {
      ...spec.linux,
      namespaces: [...spec.linux.namespaces.filter((n) => n.type !== "user"), { type: "user" }],
      uidMappings,
      gidMappings,
    },
  });
}

/** Root without a user namespace: the device cgroup denies everything but runc's default devices. */
export function rootfulDevices(): Transform {
  return (spec) => ({
    ...spec,
    linux: { ...spec.linux, resources: { ...spec.linux.resources, devices: [{ allow: false, access: "rwm" }] } },
  });
}

/** The project directory, bind-mounted read-write at /project and used as the working directory. */
export function projectMount(realPath: string): Transform {
  return (spec) => ({
    ...spec,
    process: { ...spec.process, cwd: PROJECT_MOUNT },
    mounts: [
      ...spec.mounts.filter((m) => m.destination !== PROJECT_MOUNT),
      { destination: PROJECT_MOUNT, type: "bind", source: realPath, options: ["rbind", "rw"] },
    ],
  });
}

export function writableRootfs(): Transform {
  return (spec) => ({ ...spec, root: { ...spec.root, readonly: false } });
}

export function capabilities(caps: readonly string[]): Transform {
  return (spec) => ({
    ...spec,
    process: {
      ...spec.process,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
    },
  });
}

/** HOME, PATH and TERM, plus the `container` variable that tools use to detect a container. */
export function baseEnvironment(): Transform {
  return (spec) => ({
    ...spec,
    process: { ...spec.process, env: [`PATH=${DEFAULT_PATH}`, "HOME=/root", "TERM=xterm", "container=cm"] },
  });
}

export function hostname(name: string): Transform {
  return (spec) => ({ ...spec, hostname: name });
}

export function annotations(values: Record<string, string>): Transform {
  return (spec) => ({ ...spec, annotations: { ...spec.annotations, ...values } });
}

/** Bind the host's /etc/resolv.conf read-only, so that DNS works on the host network. */
export function hostResolvConf(): Transform {
  return (spec) => ({
    ...spec,
    mounts: [
      ...spec.mounts,
      { destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["rbind", "ro", "nosuid", "nodev", "noexec"] },
    ],
  });
}

/** No change: for an option that is not set. */
export const identity: Transform = (spec) => spec;

export function compose(...transforms: Transform[]): Transform {
  return (spec) => transforms.reduce((acc, t) => t(acc), spec);
}
