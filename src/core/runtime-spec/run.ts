/**
 * Per-run transforms: what `cm run` options change in the spec. Pure, like the others.
 */

import { mergeEnv } from "../run/env.ts";
import type { CpuLimit, Network } from "../run/resources.ts";
import type { RuntimeKind } from "../run/runtime.ts";
import type { VolumeSpec } from "../run/volume.ts";
import { PROJECT_MOUNT, type Transform } from "./transforms.ts";
import type { Hook, Mount } from "./types.ts";

/** The run's rootfs: an absolute real path (the stored spec says "rootfs", relative to the bundle). */
export function rootfsAt(path: string): Transform {
  return (spec) => ({ ...spec, root: { ...spec.root, path } });
}

/** What the container runs, and whether it gets a terminal. */
export function processArgs(args: readonly string[], terminal: boolean): Transform {
  return (spec) => ({ ...spec, process: { ...spec.process, args: [...args], terminal } });
}

/** KEY=VALUE entries over the spec's environment (core/run/env.ts mergeEnv: a later key wins). */
export function environment(extra: readonly string[]): Transform {
  return (spec) => (extra.length ? { ...spec, process: { ...spec.process, env: mergeEnv(spec.process.env, extra) } } : spec);
}

/** A memory limit in bytes; swap = limit: no swap on top of it, so going over it is an out-of-memory kill. */
export function memoryLimit(bytes: number): Transform {
  return (spec) => ({
    ...spec,
    linux: { ...spec.linux, resources: { ...spec.linux.resources, memory: { limit: bytes, swap: bytes } } },
  });
}

/** Mounts a feature adds (an init binary, per-run files): each replaces a mount at the same destination. */
export function mounts(list: readonly Mount[]): Transform {
  return (spec) => {
    if (list.length === 0) return spec;
    const dests = new Set(list.map((m) => m.destination));
    return { ...spec, mounts: [...spec.mounts.filter((m) => !dests.has(m.destination)), ...list.map((m) => ({ ...m }))] };
  };
}

/** Extra bind mounts (sources already real host paths). /project changes only its mode. */
export function volumes(list: readonly VolumeSpec[]): Transform {
  return (spec) => {
    let mounts = spec.mounts;
    for (const v of list) {
      const options = ["rbind", v.readOnly ? "ro" : "rw"];
      if (v.destination === PROJECT_MOUNT) {
        mounts = mounts.map((m) => (m.destination === PROJECT_MOUNT ? { ...m, options } : m));
      } else {
        mounts = [
          ...mounts.filter((m) => m.destination !== v.destination),
          { destination: v.destination, type: "bind", source: v.source, options },
        ];
      }
    }
    return { ...spec, mounts };
  };
}

/** host: no network namespace (the host's network); none: a new one, where runc brings up only loopback. */
export function network(mode: Network): Transform {
  return (spec) => {
    const namespaces = spec.linux.namespaces.filter((n) => n.type !== "network");
    if (mode === "none") namespaces.push({ type: "network" });
    return { ...spec, linux: { ...spec.linux, namespaces } };
  };
}

export function cpuLimit(cpu: CpuLimit): Transform {
  return (spec) => ({
    ...spec,
    linux: { ...spec.linux, resources: { ...spec.linux.resources, cpu: { quota: cpu.quota, period: cpu.period } } },
  });
}

export function pidsLimit(limit: number): Transform {
  return (spec) => ({ ...spec, linux: { ...spec.linux, resources: { ...spec.linux.resources, pids: { limit } } } });
}

/** Where the runtime puts the container's cgroup (for the systemd driver: "slice:prefix:name"). */
export function cgroupsPath(path: string): Transform {
  return (spec) => ({ ...spec, linux: { ...spec.linux, cgroupsPath: path } });
}

/**
 * A property of the transient scope runc's systemd driver makes (the `org.systemd.property.NAME`
 * annotation; `value` in D-Bus variant text form, a string quoted: "'continue'").
 */
export function systemdProperty(name: string, value: string): Transform {
  return (spec) => ({ ...spec, annotations: { ...spec.annotations, [`org.systemd.property.${name}`]: value } });
}

export function readOnlyRootfs(): Transform {
  return (spec) => ({ ...spec, root: { ...spec.root, readonly: true } });
}

export function workdir(dir: string): Transform {
  return (spec) => ({ ...spec, process: { ...spec.process, cwd: dir } });
}

/**
 * What a runtime needs changed. runsc (gVisor) has its own sandbox: its network is chosen by a
 * global flag (see core/run/runtime.ts), so the spec's network namespace is dropped; and it makes
 * the user namespace itself (with --rootless, container root is the invoking user), so the spec's
 * user namespace and mappings are dropped too: with them its gofer cannot start.
 */
export function forRuntime(kind: RuntimeKind): Transform {
  return (spec) => {
    if (kind !== "runsc") return spec;
    const { uidMappings: _u, gidMappings: _g, ...linux } = spec.linux;
    return { ...spec, linux: { ...linux, namespaces: linux.namespaces.filter((n) => n.type !== "network" && n.type !== "user") } };
  };
}

/**
 * `--allow-host`: a private network namespace (loopback only), the proxy variables pointing at
 * cm's proxy inside it (replacing any the bundle or flags set), and the createRuntime hook that
 * lets cm open the proxy's socket in the namespace before the process starts (proxy/netns.ts).
 */
export function egressProxy(hook: Hook, env: readonly string[]): Transform {
  return (spec) => {
    const names = new Set(env.map((e) => e.slice(0, e.indexOf("="))));
    const kept = spec.process.env.filter((e) => !names.has(e.slice(0, e.indexOf("="))) && !/^(all_proxy|ALL_PROXY)=/.test(e));
    return {
      ...network("none")(spec),
      process: { ...spec.process, env: [...kept, ...env] },
      hooks: { ...spec.hooks, createRuntime: [...(spec.hooks?.createRuntime ?? []), hook] },
    };
  };
}

/**
 * `--review`: /project is an overlay of the project directory (read-only lower) with an upper and
 * work directory in cm's state, so the run's writes never reach the project. No metacopy and no
 * redirects (review/changes.ts reads the upper as whole copies, renames as delete + add); rootless
 * (a user namespace) keeps the overlay's attributes as user.overlay.* (`userxattr`).
 */
export function reviewOverlay(project: string, upper: string, work: string, userxattr: boolean): Transform {
  const options = [`lowerdir=${project}`, `upperdir=${upper}`, `workdir=${work}`];
  if (userxattr) options.push("userxattr");
  else options.push("redirect_dir=off", "metacopy=off", "index=off");
  return (spec) => ({
    ...spec,
    mounts: [
      ...spec.mounts.filter((m) => m.destination !== PROJECT_MOUNT),
      { destination: PROJECT_MOUNT, type: "overlay", source: "overlay", options },
    ],
  });
}

/**
 * `--ephemeral`: the root filesystem is an overlay of the bundle's rootfs (read-only lower) with
 * an upper and work directory of the run's own, mounted by the runtime over root.path before any
 * other mount (runc mounts a "/" destination on the rootfs itself; measured and decided in
 * ARCHITECTURE.md). The bundle is never written; several runs of one bundle each have their
 * upper. No index, no metacopy, no redirects: nothing in the upper refers to the lower by handle.
 */
export function rootfsOverlay(lower: string, upper: string, work: string, userxattr: boolean): Transform {
  // volatile: no sync of the upper's file system (on every fsync inside, and at the unmount): the
  // upper is thrown away anyway.
  const options = [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`, "volatile"];
  if (userxattr) options.push("userxattr");
  else options.push("redirect_dir=off", "metacopy=off", "index=off");
  return (spec) => ({
    ...spec,
    mounts: [{ destination: "/", type: "overlay", source: "overlay", options }, ...spec.mounts.filter((m) => m.destination !== "/")],
  });
}
