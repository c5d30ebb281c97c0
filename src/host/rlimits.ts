/**
 * The facts behind a container's rlimits (core/run/ulimit.ts): cm's own limits, those of the
 * process that started cm (the user's shell, usually), and the kernel's ceiling for open files.
 * Three small /proc reads (~0.1 ms together).
 *
 * Why the invoker's and not cm's own: Node raises its soft RLIMIT_NOFILE to the hard limit at
 * start-up, so cm's own soft limit is not the user's. The invoker's are taken only when cm could
 * have inherited them (each is capped at cm's own hard limit by resolveUlimits).
 */
import { readFileSync } from "node:fs";
import { type Limits, parseProcLimits, type UlimitFacts } from "../core/run/ulimit.ts";

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** `privileged`: cm may raise hard limits (root without a user namespace of its own). */
export function readUlimitFacts(privileged: boolean): UlimitFacts {
  const own: Limits = parseProcLimits(read("/proc/self/limits") ?? "");
  const parent = process.ppid > 1 ? read(`/proc/${process.ppid}/limits`) : undefined;
  const nrOpen = Number(read("/proc/sys/fs/nr_open")?.trim());
  return {
    own,
    invoker: parent === undefined ? undefined : parseProcLimits(parent),
    privileged,
    nrOpen: Number.isSafeInteger(nrOpen) && nrOpen > 0 ? nrOpen : undefined,
  };
}
