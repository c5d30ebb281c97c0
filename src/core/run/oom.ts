/**
 * Was a container killed for memory? Pure parsers over the text of the memory cgroup's files;
 * host/oom.ts reads them (before the runtime removes the cgroup).
 *
 *   cgroup v1: memory.oom_control has `oom_kill N` (kernel >= 4.13: processes the OOM killer
 *              killed in this cgroup); memory.failcnt counts hits of the limit (reclaim included,
 *              so it is only a fallback on kernels without oom_kill).
 *   cgroup v2: memory.events has `oom_kill N` (and `oom N`: the limit was hit and reclaim failed).
 */

/** `key value` lines (memory.events, memory.oom_control) -> numbers by key. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined && /^\d+$/.test(value)) out.set(key, Number(value));
  }
  return out;
}

/** cgroup v1: processes killed by the OOM killer in the cgroup, from memory.oom_control (undefined: the kernel does not say). */
export function oomKillsV1(oomControl: string): number | undefined {
  return parseFlatKeyed(oomControl).get("oom_kill");
}

/** cgroup v2: processes killed by the OOM killer in the cgroup, from memory.events (or memory.events.local). */
export function oomKillsV2(memoryEvents: string): number | undefined {
  return parseFlatKeyed(memoryEvents).get("oom_kill");
}

/** The memory limit from memory.limit_in_bytes (v1) or memory.max (v2): bytes, undefined for none ("max", or v1's huge page-rounded maximum). */
export function parseMemoryLimit(text: string): number | undefined {
  const t = text.trim();
  if (t === "max" || !/^\d+$/.test(t)) return undefined;
  const n = Number(t);
  return n >= 2 ** 62 ? undefined : n;
}

/** What cm records and says about an OOM kill. */
export interface OomKill {
  /** processes the kernel killed for memory */
  kills: number;
  /** the cgroup's memory limit in bytes, when it had one */
  limitBytes?: number | undefined;
}

/** The one line cm prints: `killed: out of memory (limit 32 MiB)`. `format` formats bytes. */
export function oomMessage(oom: OomKill, format: (bytes: number) => string): string {
  const limit = oom.limitBytes === undefined ? "" : ` (limit ${format(oom.limitBytes).replace(/^([\d.]+)(\D)/, "$1 $2")})`;
  return `killed: out of memory${limit}`;
}

/**
 * An OOM kill of a container whose own cgroup is gone when it is read: systemd removes a
 * transient scope (the systemd cgroup driver's) as soon as it is empty, before cm can read its
 * memory.events. An ancestor counts its kills too (memory.events is hierarchical: core/limits.ts
 * systemdScopeParent), so a kill is named when that count grew during the run and the container died of SIGKILL
 * (137). Another process under that ancestor killed for memory in the same moment while this
 * container got SIGKILL otherwise would be misnamed: both together, not one alone.
 */
export function oomFromSlice(
  before: number | undefined,
  after: number | undefined,
  status: number,
  limitBytes: number | undefined,
): OomKill | undefined {
  if (before === undefined || after === undefined || status !== 137 || after <= before) return undefined;
  return { kills: after - before, limitBytes };
}
