/**
 * The memory cgroup of a container that has ended but whose runtime state is kept (`runc run
 * --keep`): read before `runc delete` removes the cgroup. Thin: the parsing is core/run/oom.ts.
 *
 * Where the cgroup is comes from the runtime's state file (`<root>/<id>/state.json`,
 * `cgroup_paths`: `memory` on cgroup v1, `""` the unified hierarchy on v2), which runc writes for
 * every cgroup driver; crun and runsc keep other formats and are not read.
 */
import { readFileSync } from "node:fs";
import { join, posix } from "node:path";
import { type OomKill, oomKillsV1, oomKillsV2, parseMemoryLimit } from "../core/run/oom.ts";

/** The cgroup directories runc recorded for a container (undefined when there is no such state). */
export function runcCgroupPaths(stateRoot: string, id: string): Record<string, string> | undefined {
  try {
    const state = JSON.parse(readFileSync(join(stateRoot, id, "state.json"), "utf8")) as { cgroup_paths?: Record<string, string> };
    return state.cgroup_paths;
  } catch {
    return undefined;
  }
}

function cgroupFile(dir: string | undefined, name: string): string | undefined {
  // only below the cgroup mount: the state file is cm's own, but a path is checked before it is read
  if (dir === undefined || !dir.startsWith("/sys/fs/cgroup/") || posix.normalize(dir) !== dir) return undefined;
  try {
    return readFileSync(join(dir, name), "utf8");
  } catch {
    return undefined;
  }
}

/** OOM kills in the container's memory cgroup, from cgroup v1 or v2 files; undefined when none or unreadable. */
export function readOomKill(paths: Record<string, string> | undefined): OomKill | undefined {
  if (!paths) return undefined;
  let kills: number | undefined;
  let limit: number | undefined;
  if (paths.memory) {
    kills = oomKillsV1(cgroupFile(paths.memory, "memory.oom_control") ?? "");
    limit = parseMemoryLimit(cgroupFile(paths.memory, "memory.limit_in_bytes") ?? "");
  } else if (paths[""]) {
    kills = oomKillsV2(cgroupFile(paths[""], "memory.events") ?? "");
    limit = parseMemoryLimit(cgroupFile(paths[""], "memory.max") ?? "");
  }
  return kills ? { kills, limitBytes: limit } : undefined;
}

/** oom_kill of a v2 cgroup's memory.events (hierarchical: kills in its descendants count); undefined when unreadable. */
export function readOomKillCount(dir: string): number | undefined {
  const text = cgroupFile(dir, "memory.events");
  return text === undefined ? undefined : (oomKillsV2(text) ?? 0);
}
