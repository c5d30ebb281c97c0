/** Whether a resource limit can be enforced for this user on this host: a pure decision. */
import { CmError } from "../errors.ts";
import type { CgroupFacts } from "../host/cgroups.ts";
import { formatBytes } from "./size.ts";

export type Limit = "memory" | "cpu" | "pids";

const FLAG: Record<Limit, string> = { memory: "--memory", cpu: "--cpus", pids: "--pids-limit" };

/** Returns nothing when the limit can be enforced; throws a CmError that says why not and what would help. */
export function checkLimitEnforceable(limit: Limit, rootless: boolean, cgroups: CgroupFacts): void {
  if (!rootless) return;
  const flag = FLAG[limit];
  if (cgroups.version === "v1") {
    throw new CmError(
      "limit-unsupported",
      `${flag} cannot be enforced for a rootless container on this host: it has cgroup v1, where an ordinary user cannot create cgroups`,
      {
        hint: "run cm as root for limits, or boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1) and delegate controllers to your user",
      },
    );
  }
  const controller = limit === "cpu" ? "cpu" : limit;
  if (!cgroups.delegated.includes(controller)) {
    throw new CmError(
      "limit-unsupported",
      `${flag} cannot be enforced for a rootless container on this host: the ${controller} controller is not delegated to your user's cgroup`,
      {
        hint: "delegate it (systemd: a user@.service drop-in with Delegate=yes), or run cm as root",
      },
    );
  }
}

/** Below this runc's own init cannot start; docker refuses less than 6MB for the same reason. */
export const MIN_MEMORY = 6 * 1024 * 1024;

/** Why a memory limit of `bytes` is too small ("a container needs at least 6MiB"), or undefined when it is enough. */
export function memoryTooSmall(bytes: number): string | undefined {
  return bytes < MIN_MEMORY ? `a container needs at least ${formatBytes(MIN_MEMORY)}` : undefined;
}
