/**
 * The user's subordinate id mapping (/etc/subuid, /etc/subgid, newuidmap/newgidmap) and running a
 * program as root of a user namespace with it (util-linux `unshare --map-users`, >= 2.38), the one
 * way an ordinary user can write, copy or remove a tree owned by its subordinate ids.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import type { IdMapping } from "../core/runtime-spec/types.ts";
import { type IdMap, idMappings, unshareArgs } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { parseSubid } from "./probes.ts";
import { capture, findTool } from "./tools.ts";

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export interface MapHelper {
  path: string | undefined;
  /** setuid root, or file capabilities that allow it to set ids (Fedora ships cap_setuid=ep) */
  usable: boolean;
  how: string;
}

/** newuidmap or newgidmap: present, and able to write another process's id map. */
export function mapHelper(name: "newuidmap" | "newgidmap"): MapHelper {
  const path = findTool(name);
  if (!path) return { path, usable: false, how: "missing" };
  const st = statSync(path);
  if (st.uid === 0 && (st.mode & 0o4000) !== 0) return { path, usable: true, how: "setuid root" };
  const getcap = findTool("getcap");
  const caps = getcap ? capture(getcap, [path]).stdout : "";
  const cap = name === "newuidmap" ? "cap_setuid" : "cap_setgid";
  if (caps.includes(cap)) return { path, usable: true, how: `file capability ${cap}` };
  return { path, usable: false, how: "neither setuid root nor given the capability to set ids" };
}

let cached: { map?: IdMap; why: string } | undefined;

/**
 * The current user's range mapping when it is usable (first range of each file), else why not.
 * Memoised: read once per process.
 */
export function userIdMap(uid = process.getuid?.() ?? 0, gid = process.getgid?.() ?? 0): { map?: IdMap; why: string } {
  if (cached) return cached;
  const user = userInfo().username;
  const subuid = parseSubid(readText("/etc/subuid"), user, uid)[0];
  const subgid = parseSubid(readText("/etc/subgid"), user, gid)[0];
  const uidmap = mapHelper("newuidmap");
  const gidmap = mapHelper("newgidmap");
  const unshare = findTool("unshare");
  let why = "";
  if (!subuid || !subgid) why = `no ${!subuid ? "/etc/subuid" : "/etc/subgid"} range for ${user}`;
  else if (!uidmap.usable || !gidmap.usable) why = `newuidmap/newgidmap ${!uidmap.path || !gidmap.path ? "missing" : "not usable"}`;
  else if (!unshare) why = "unshare (util-linux) missing";
  cached = subuid && subgid && !why ? { map: { uid, gid, subuid, subgid }, why: "" } : { why };
  return cached;
}

/** argv that runs `file args` as root of a user namespace with `map`. */
export function inUserns(map: IdMap, file: string, args: readonly string[]): [string, string[]] {
  return inMappedUserns(idMappings(map.uid, map.gid, map), map.uid, map.gid, file, args);
}

/**
 * argv that runs `file args` as root of a user namespace with OCI `mappings` (a bundle's recorded
 * linux.uidMappings/gidMappings; `uid`/`gid` are the caller's own ids). Throws CmError
 * "tool-missing" without util-linux's unshare.
 */
export function inMappedUserns(
  mappings: { uidMappings?: readonly IdMapping[] | undefined; gidMappings?: readonly IdMapping[] | undefined },
  uid: number,
  gid: number,
  file: string,
  args: readonly string[],
): [string, string[]] {
  const unshare = findTool("unshare");
  if (!unshare) throw new CmError("tool-missing", "unshare (util-linux) not found", { hint: "install it: apt-get install util-linux" });
  return [unshare, [...unshareArgs(mappings, uid, gid), "--", file, ...args]];
}

/**
 * Runs `file args` to completion as root of a user namespace with `map` (synchronously); throws a
 * CmError naming `what` and the tool's last stderr line when it fails.
 */
export function runInUserns(map: IdMap, file: string, args: readonly string[], what: string, cwd?: string): void {
  const [f, a] = inUserns(map, file, args);
  const r = spawnSync(f, a, { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8", cwd });
  if (r.status === 0) return;
  const last = (r.stderr ?? "").trim().split("\n").pop() ?? "";
  throw new CmError("userns-failed", `${what} failed in your user namespace: ${last || (r.signal ?? `exit status ${r.status}`)}`, {
    hint: "check /etc/subuid, /etc/subgid and newuidmap/newgidmap (cm doctor)",
  });
}
