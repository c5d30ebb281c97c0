/**
 * Rootless user namespaces: which ids a rootless bundle maps, as pure decisions.
 *
 * Two modes (the value of `cm create --userns`, Podman's option name; `[create] userns` in cm.toml):
 *   - "range": container 0 is the user's own uid/gid and container ids 1..N are the user's
 *     subordinate range from /etc/subuid and /etc/subgid (what rootless Podman does by default).
 *     Ownership inside the rootfs is real: `_apt`, `shadow`, setuid/setgid files, chown in
 *     maintainer scripts all work. The rootfs is stored shifted: container id N>=1 is host id
 *     start+N-1, so only a process in a user namespace with the same mapping can change it.
 *   - "single": container 0 is the user, nothing else is mapped (cm's former and only mode): every
 *     file belongs to the user, chown to another id fails inside.
 * The default is "range" wherever the user has both ranges and newuidmap/newgidmap, else "single".
 * Root uses no user namespace at all (mode "none").
 */
import { CmError } from "../errors.ts";
import type { IdMapping } from "./runtime-spec/types.ts";

export const USERNS_MODES = ["range", "single"] as const;
export type UsernsMode = (typeof USERNS_MODES)[number];

/** The annotation recording a bundle's mode; a rootless bundle without it is single-id (made before). */
export const USERNS_ANNOTATION = "dev.cm.userns";

export interface IdRange {
  /** first host id of the range */
  start: number;
  /** number of ids */
  count: number;
}

/** A rootless range mapping: container 0 -> uid/gid, container 1..count -> the subordinate range. */
export interface IdMap {
  uid: number;
  gid: number;
  subuid: IdRange;
  subgid: IdRange;
}

/** Parses a --userns value (or cm.toml's userns); `where` names its origin in the error. */
export function parseUsernsMode(text: string, where = "--userns"): UsernsMode {
  if ((USERNS_MODES as readonly string[]).includes(text)) return text as UsernsMode;
  throw new CmError("usage", `${where} ${JSON.stringify(text)} is not a user namespace mode`, {
    hint: "use range (your subordinate ids, from /etc/subuid) or single (only your own id)",
  });
}

export interface UsernsChoice {
  mode: UsernsMode | "none";
  /** set in range mode */
  map?: IdMap;
  /** the one message a create prints when it falls back to single (what is lost, how to get a range) */
  notice?: string;
}

/**
 * Which mode a new bundle gets. `requested` is the flag's or cm.toml's value; `available` the
 * user's mapping when it is usable, else `why` says what is missing. Asking for range where it is
 * not available is an error; defaulting to single says so once (notice).
 */
export function chooseUserns(input: {
  rootless: boolean;
  requested: UsernsMode | undefined;
  available: IdMap | undefined;
  why: string;
  user: string;
}): UsernsChoice {
  if (!input.rootless) return { mode: "none" };
  const howTo = `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${input.user}, and apt-get install uidmap`;
  if (input.requested === "single") return { mode: "single" };
  if (input.available) return { mode: "range", map: input.available };
  if (input.requested === "range") {
    throw new CmError("userns-unavailable", `--userns range needs subordinate ids: ${input.why}`, { hint: howTo });
  }
  return {
    mode: "single",
    notice: `only your own id is mapped (${input.why}): packages that chown to system users or groups (cron, openssh-server, ...) fail to install, and setuid/setgid bits are dropped; to get a range: ${howTo}, then cm create --force`,
  };
}

/** The spec's uidMappings/gidMappings for a rootless bundle (one entry in single mode, two in range mode). */
export function idMappings(
  uid: number,
  gid: number,
  map: IdMap | undefined,
): {
  uidMappings: { containerID: number; hostID: number; size: number }[];
  gidMappings: { containerID: number; hostID: number; size: number }[];
} {
  const uidMappings = [{ containerID: 0, hostID: uid, size: 1 }];
  const gidMappings = [{ containerID: 0, hostID: gid, size: 1 }];
  if (map) {
    uidMappings.push({ containerID: 1, hostID: map.subuid.start, size: map.subuid.count });
    gidMappings.push({ containerID: 1, hostID: map.subgid.start, size: map.subgid.count });
  }
  return { uidMappings, gidMappings };
}

/**
 * util-linux unshare's arguments (before `--`) that enter a user namespace with OCI `mappings` as
 * its root (util-linux >= 2.38): the caller's own `uid`/`gid` mapped alone as --map-user/--map-group,
 * every other range as --map-users/--map-groups (through newuidmap/newgidmap). One way into a
 * user namespace for every rootfs write (rootfs/userns.ts), removal (host/fs.ts) and export's layer
 * (actions/export.ts). Pure.
 */
export function unshareArgs(
  mappings: { uidMappings?: readonly IdMapping[] | undefined; gidMappings?: readonly IdMapping[] | undefined },
  uid: number,
  gid: number,
): string[] {
  const args: string[] = [];
  for (const [kind, maps, own] of [
    ["user", mappings.uidMappings ?? [], uid],
    ["group", mappings.gidMappings ?? [], gid],
  ] as const) {
    for (const m of maps) {
      if (m.hostID === own && m.size === 1) args.push(`--map-${kind}=${m.containerID}`);
      else args.push(`--map-${kind}s=${m.hostID},${m.containerID},${m.size}`);
    }
  }
  return args;
}

/**
 * The part of a base cache key that names the mapping a base's files are shifted by, so a base is
 * never shared between modes, users or ranges: "u1000-100000x65536-g1000-100000x65536" (the
 * characters of other keys: lowercase letters, digits, "-").
 */
export function mappingKey(map: IdMap): string {
  return `u${map.uid}-${map.subuid.start}x${map.subuid.count}-g${map.gid}-${map.subgid.start}x${map.subgid.count}`;
}

/**
 * Host id -> container id through `map` (the user's own id is 0, a subordinate id start+k is k+1);
 * ids outside it are taken as container ids already (a tree made by root, with real ids).
 */
export function toContainerId(hostId: number, own: number, range: IdRange): number {
  if (hostId === own) return 0;
  if (hostId >= range.start && hostId < range.start + range.count) return hostId - range.start + 1;
  return hostId;
}

/** What cm asks of `cm __extract` (one JSON argument; cli/extract.ts, rootfs/userns.ts). */
export interface ExtractRequest {
  what: string;
  whiteouts?: boolean;
  diffId?: string;
  /** the highest container uid and gid the namespace maps */
  maxIds: { uid: number; gid: number };
  /** the stream's owners are host ids of this mapping (dir: sources) */
  hostIds?: IdMap;
}
