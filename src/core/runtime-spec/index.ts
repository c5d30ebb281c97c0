/**
 * Config generation: pure functions from options and host facts to an OCI spec.
 *
 *   bundleSpec(input)       -> the config.json stored with a bundle at `cm create` (root.path "rootfs",
 *                              so the bundle directory is a valid OCI bundle on its own)
 *   runSpec(stored, input)  -> the per-run config.json written for one `cm run`
 */
import { initArgs } from "../run/init.ts";
import type { CpuLimit, Network } from "../run/resources.ts";
import type { RuntimeKind } from "../run/runtime.ts";
import { rlimits, shmSize } from "../run/ulimit.ts";
import type { VolumeSpec } from "../run/volume.ts";
import { type IdMap, USERNS_ANNOTATION } from "../userns.ts";
import { baseSpec } from "./base.ts";
import { cgroupReadOnly, hardening, seccomp } from "./hardening.ts";
import { type ImageDefaults, imageDefaults } from "./image.ts";
import {
  cgroupsPath,
  cpuLimit,
  egressProxy,
  environment,
  forRuntime,
  memoryLimit,
  mounts,
  network,
  pidsLimit,
  processArgs,
  readOnlyRootfs,
  reviewOverlay,
  rootfsAt,
  rootfsOverlay,
  systemdProperty,
  volumes,
  workdir,
} from "./run.ts";
import {
  annotations,
  baseEnvironment,
  capabilities,
  compose,
  DEFAULT_CAPABILITIES,
  hostname,
  hostResolvConf,
  identity,
  projectMount,
  rootfulDevices,
  userNamespace,
  writableRootfs,
} from "./transforms.ts";
import type { Hook, Mount, OciSpec, Rlimit, Seccomp } from "./types.ts";
import { type MountCheck, storedOnly, verifyMounts } from "./verify.ts";

export type { ImageDefaults, ImageProcess } from "./image.ts";
export { IMAGE_ANNOTATION, imageProcess } from "./image.ts";
export type { OciSpec } from "./types.ts";
export type { MountCheck } from "./verify.ts";

/** Annotations by which a bundle remembers what it belongs to. */
export const ANNOTATION = {
  projectName: "dev.cm.project.name",
  projectPath: "dev.cm.project.path",
  bundle: "dev.cm.bundle",
  source: "dev.cm.source",
  created: "dev.cm.created",
  rootless: "dev.cm.rootless",
} as const;

export interface BundleSpecInput {
  projectName: string;
  /** The real (symlink-free, absolute) path of the project directory. */
  projectPath: string;
  bundle: string;
  hostname: string;
  source: string;
  created: string;
  /** Rootless: container root is `uid`/`gid` on the host, through a user namespace. */
  rootless: boolean;
  uid: number;
  gid: number;
  /** Rootless range mode: the subordinate ranges mapped to container ids 1..N (core/userns.ts). */
  ids?: IdMap | undefined;
  /** Bind the host's /etc/resolv.conf (read-only) so that DNS works on the host network. */
  resolvConf: boolean;
  /** Machine architecture (Node's process.arch): picks the seccomp architectures. */
  arch: string;
  /** Run defaults from an image's config (image sources only). */
  image?: ImageDefaults | undefined;
}

function coversUser(ids: IdMap | undefined, image: ImageDefaults): boolean {
  if (!ids || !image.user) return false;
  return image.user.uid <= ids.subuid.count && image.user.gid <= ids.subgid.count;
}

export function bundleSpec(input: BundleSpecInput): OciSpec {
  const build = compose(
    input.rootless ? userNamespace(input.uid, input.gid, input.ids) : rootfulDevices(),
    writableRootfs(),
    capabilities(DEFAULT_CAPABILITIES),
    hardening(input.arch),
    baseEnvironment(),
    hostname(input.hostname),
    input.resolvConf ? hostResolvConf() : identity,
    projectMount(input.projectPath),
    annotations({
      [ANNOTATION.projectName]: input.projectName,
      [ANNOTATION.projectPath]: input.projectPath,
      [ANNOTATION.bundle]: input.bundle,
      [ANNOTATION.source]: input.source,
      [ANNOTATION.created]: input.created,
      [ANNOTATION.rootless]: String(input.rootless),
      ...(input.rootless ? { [USERNS_ANNOTATION]: input.ids ? "range" : "single" } : {}),
    }),
    // In range mode the image's user exists inside (when the range covers it), as rootful.
    input.image ? imageDefaults(input.image, input.rootless && !coversUser(input.ids, input.image)) : identity,
  );
  return build(baseSpec(input.rootless));
}

/** RLIM_INFINITY as config.json spells it (a uint64 JSON number cannot be written from a double). */
const RLIM_INFINITY = "18446744073709551615";
const INFINITY_TOKEN = "\u0000rlim-infinity\u0000";

/**
 * A spec as config.json text. Rlimit values of Infinity (core/run/ulimit.ts UNLIMITED) are written
 * as RLIM_INFINITY (2^64-1): JSON.stringify would write null, and 2^64 as a double is out of uint64.
 */
export function specJson(spec: OciSpec): string {
  const text = JSON.stringify(spec, (key, value) =>
    (key === "soft" || key === "hard") && value === Number.POSITIVE_INFINITY ? INFINITY_TOKEN : value,
  );
  return text.replaceAll(JSON.stringify(INFINITY_TOKEN), RLIM_INFINITY);
}

export interface RunSpecInput {
  /** Absolute real path of the bundle's rootfs (runc refuses a symlinked rootfs). */
  rootfsPath: string;
  args: string[];
  terminal: boolean;
  /** The host's TERM, passed in when a terminal is allocated. */
  term?: string | undefined;
  memoryBytes?: number | undefined;
  /** KEY=VALUE entries over the stored environment (later ones win) */
  env?: readonly string[] | undefined;
  /** extra bind mounts, sources already real paths */
  volumes?: readonly VolumeSpec[] | undefined;
  /** other mounts a feature adds (an init, per-run files), after the volumes; one per destination */
  mounts?: readonly Mount[] | undefined;
  network?: Network | undefined;
  cpu?: CpuLimit | undefined;
  pidsLimit?: number | undefined;
  readOnly?: boolean | undefined;
  workdir?: string | undefined;
  runtime?: RuntimeKind | undefined;
  /** --security-opt seccomp=: undefined keeps the stored profile, null removes it (unconfined). */
  seccomp?: Seccomp | null | undefined;
  /** bind sources as cm checked them: the runtime must have mounted exactly these (runtime-spec/verify.ts) */
  mountChecks?: readonly MountCheck[] | undefined;
  /** --allow-host: a private network, the proxy variables, the hook that opens the proxy's socket inside */
  egress?: { hook: Hook; env: readonly string[] } | undefined;
  /** --review: /project as an overlay with this upper and work directory (userxattr: rootless) */
  review?: { project: string; upper: string; work: string; userxattr: boolean } | undefined;
  /** --ephemeral: / as an overlay of the rootfs with this upper and work directory */
  ephemeral?: { upper: string; work: string; userxattr: boolean } | undefined;
  /** linux.cgroupsPath (the systemd driver's "slice:prefix:name", core/limits.ts); unset: the runtime's default */
  cgroupsPath?: string | undefined;
  /** run the args under the init (core/run/init.ts; its mount comes with `mounts`) */
  init?: boolean | undefined;
  /** the process's rlimits (core/run/ulimit.ts resolveUlimits); undefined keeps the stored ones */
  rlimits?: readonly Rlimit[] | undefined;
  /** size of /dev/shm in bytes */
  shmBytes?: number | undefined;
}

/** The per-run spec: the stored one with one transform per concern of the run (runtime-spec/run.ts). */
export function runSpec(stored: OciSpec, input: RunSpecInput): OciSpec {
  // The host's TERM goes in with a terminal; an explicit --env TERM=... still wins (it comes later).
  const env = [...(input.terminal && input.term ? [`TERM=${input.term}`] : []), ...(input.env ?? [])];
  return compose(
    // only what cm wrote: a stored spec's hooks and foreign bind mounts are dropped (runtime-spec/verify.ts)
    storedOnly(stored.annotations?.[ANNOTATION.projectPath] ?? ""),
    rootfsAt(input.rootfsPath),
    processArgs(input.args, input.terminal),
    input.init ? initArgs() : identity,
    input.rlimits ? rlimits(input.rlimits) : identity,
    input.shmBytes !== undefined ? shmSize(input.shmBytes) : identity,
    cgroupReadOnly(),
    environment(env),
    input.seccomp !== undefined ? seccomp(input.seccomp) : identity,
    input.memoryBytes !== undefined ? memoryLimit(input.memoryBytes) : identity,
    // the user's volumes last: -v FILE:/etc/hosts replaces the run's own /etc/hosts, as with docker run
    mounts(input.mounts ?? []),
    volumes(input.volumes ?? []),
    input.network ? network(input.network) : identity,
    input.cpu ? cpuLimit(input.cpu) : identity,
    input.pidsLimit !== undefined ? pidsLimit(input.pidsLimit) : identity,
    input.egress ? egressProxy(input.egress.hook, input.egress.env) : identity,
    input.review ? reviewOverlay(input.review.project, input.review.upper, input.review.work, input.review.userxattr) : identity,
    input.ephemeral ? rootfsOverlay(input.rootfsPath, input.ephemeral.upper, input.ephemeral.work, input.ephemeral.userxattr) : identity,
    input.readOnly ? readOnlyRootfs() : identity,
    input.workdir ? workdir(input.workdir) : identity,
    input.cgroupsPath ? cgroupsPath(input.cgroupsPath) : identity,
    // systemd stops a scope when the kernel kills one of its processes for memory (OOMPolicy=stop):
    // the whole container would end for one killed process, unlike cgroup v1 and Docker. continue.
    input.cgroupsPath && input.runtime === "runc" ? systemdProperty("OOMPolicy", "'continue'") : identity,
    forRuntime(input.runtime ?? "runc"),
    // gVisor does not run createContainer hooks in the container's mount namespace
    // runsc runs no hook in the container's mount namespace; crun 1.8 runs createContainer hooks
    // elsewhere (the check failed every start in the cgroup v2 guest): the check is runc's (SECURITY.md)
    input.runtime === "runsc" || input.runtime === "crun" ? identity : verifyMounts(input.mountChecks ?? []),
  )(stored);
}
