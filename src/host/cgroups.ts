/**
 * Which cgroup layout the host has and whether this user can have limits enforced.
 * The parsers are pure (text in, facts out); readCgroupFacts() is the thin reader.
 */
import { accessSync, constants, readdirSync, readFileSync, rmdirSync, statSync } from "node:fs";
import { join } from "node:path";

export interface CgroupFacts {
  /** v1 also covers the hybrid layout (v1 controllers, an empty cgroup2 at /sys/fs/cgroup/unified). */
  version: "v1" | "v2";
  /** v1 with a cgroup2 mounted at /sys/fs/cgroup/unified (crun refuses this layout) */
  hybrid?: boolean | undefined;
  /** v2 only: the cgroup of this process, from /proc/self/cgroup ("0::/path"). */
  ownCgroup?: string | undefined;
  /** v2 only: controllers available in ownCgroup, when this user may write there (delegation). */
  delegated: string[];
  /** systemd is the init system (sd_booted(3): /run/systemd/system is a directory) */
  systemd?: boolean | undefined;
  /**
   * v2 + systemd, an ordinary user: the cgroup of the user's systemd manager (user@UID.service)
   * and the controllers delegated to it (its cgroup.controllers); undefined when it does not run
   * (no login session and no lingering).
   */
  userManager?: { path: string; controllers: string[] } | undefined;
  /** v2 + systemd: the D-Bus socket the cgroup driver talks to (the user's bus rootless, the system bus as root), when it exists */
  bus?: string | undefined;
}

/** The socket path of a D-Bus address ("unix:path=/run/user/1000/bus,guid=..."), if it names one. */
export function parseBusPath(address: string | undefined): string | undefined {
  for (const part of (address ?? "").split(";")) {
    if (!part.startsWith("unix:")) continue;
    const path = part
      .slice(5)
      .split(",")
      .find((kv) => kv.startsWith("path="))
      ?.slice(5);
    if (path?.startsWith("/")) return path;
  }
  return undefined;
}

/** Where systemd puts a user's manager in the unified hierarchy (systemd's user@.service and user-UID.slice units). */
export function userManagerCgroup(uid: number): string {
  return `/user.slice/user-${uid}.slice/user@${uid}.service`;
}

/** A cgroup.controllers / cgroup.subtree_control file: space-separated names. */
export function parseControllers(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

/** Reads the cgroup version from /proc/self/mountinfo: cgroup2 mounted on /sys/fs/cgroup means v2. */
export function parseCgroupVersion(mountinfo: string): "v1" | "v2" {
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const mountPoint = pre.split(" ")[4];
    const fstype = post.split(" ")[0];
    if (mountPoint === "/sys/fs/cgroup" && fstype === "cgroup2") return "v2";
  }
  return "v1";
}

/** A v1 host with a cgroup2 mount at /sys/fs/cgroup/unified: the "hybrid" layout. */
export function parseCgroupHybrid(mountinfo: string): boolean {
  return mountinfo.split("\n").some((line) => {
    const [pre, post] = line.split(" - ");
    return pre?.split(" ")[4] === "/sys/fs/cgroup/unified" && post?.split(" ")[0] === "cgroup2";
  });
}

/** The unified-hierarchy path of this process from /proc/self/cgroup. */
export function parseOwnCgroup(procSelfCgroup: string): string | undefined {
  for (const line of procSelfCgroup.split("\n")) {
    if (line.startsWith("0::")) return line.slice(3).trim();
  }
  return undefined;
}

/**
 * Reads the facts for the calling process: mountinfo, its own cgroup, and on systemd hosts the
 * user manager's cgroup and the bus socket. `uid` and `env` default to this process's.
 */
export function readCgroupFacts(root = "/", uid = process.getuid?.() ?? 0, env: NodeJS.ProcessEnv = process.env): CgroupFacts {
  const read = (p: string) => {
    try {
      return readFileSync(root + p, "utf8");
    } catch {
      return "";
    }
  };
  const mountinfo = read("proc/self/mountinfo");
  const version = parseCgroupVersion(mountinfo);
  if (version === "v1") return { version, hybrid: parseCgroupHybrid(mountinfo), delegated: [] };
  const ownCgroup = parseOwnCgroup(read("proc/self/cgroup"));
  const isDir = (p: string) => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const exists = (p: string | undefined) => {
    try {
      return p !== undefined && statSync(p) !== undefined;
    } catch {
      return false;
    }
  };
  const systemd = isDir(`${root}run/systemd/system`);
  let userManager: CgroupFacts["userManager"];
  let bus: string | undefined;
  if (systemd) {
    if (uid !== 0) {
      const path = userManagerCgroup(uid);
      if (isDir(`${root}sys/fs/cgroup${path}`))
        userManager = { path, controllers: parseControllers(read(`sys/fs/cgroup${path}/cgroup.controllers`)) };
      // runc and crun find the user's bus the same way (DBUS_SESSION_BUS_ADDRESS, else $XDG_RUNTIME_DIR/bus).
      const candidate =
        parseBusPath(env.DBUS_SESSION_BUS_ADDRESS) ??
        `${env.XDG_RUNTIME_DIR?.startsWith("/") ? env.XDG_RUNTIME_DIR : `/run/user/${uid}`}/bus`;
      bus = exists(root + candidate.slice(1)) ? candidate : undefined;
    } else {
      bus = exists(`${root}run/dbus/system_bus_socket`) ? "/run/dbus/system_bus_socket" : undefined;
    }
  }
  let delegated: string[] = [];
  if (ownCgroup !== undefined) {
    const dir = `${root}sys/fs/cgroup${ownCgroup === "/" ? "" : ownCgroup}`;
    try {
      accessSync(dir, constants.W_OK);
      delegated = read(`${dir.slice(root.length)}/cgroup.controllers`)
        .trim()
        .split(/\s+/)
        .filter(Boolean);
    } catch {
      delegated = [];
    }
  }
  return { version, ownCgroup, delegated, systemd, userManager, bus };
}

/**
 * Removes the cgroups a runtime made for container `id` and left behind (its state was lost, so
 * `runtime delete` could not): `<root>/<id>` (cgroup v2) and `<root>/<controller>/<id>` (v1), the
 * path runc uses when the spec sets no cgroupsPath. rmdir only: a cgroup that still has processes
 * or children is not removed. Returns the paths removed. `id` must be one of cm's container IDs.
 */
export function removeContainerCgroups(id: string, root = "/sys/fs/cgroup"): string[] {
  if (!/^[0-9a-f]{12}$/.test(id)) return [];
  let controllers: string[] = [];
  try {
    controllers = readdirSync(root, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const dir of [join(root, id), ...controllers.map((c) => join(root, c, id))]) {
    try {
      rmdirSync(dir);
      removed.push(dir);
    } catch {
      // absent, or still in use
    }
  }
  return removed;
}
