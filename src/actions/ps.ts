/**
 * cm ps: cm's containers from their run records. Without --all: running (and starting) ones; with
 * --all also exited detached runs and runs left behind by a killed cm ("gone", until cm gc).
 * The JSON fields are stable (documented in the README): add fields, never rename or drop them.
 */
import { listReviews } from "../review/store.ts";
import { type Container, containers } from "./containers.ts";
import type { Context } from "./context.ts";

export interface PsEntry {
  id: string;
  project: string;
  bundle: string;
  /** "review": a --review run that ended, its changes pending (cm diff/apply/discard) */
  status: Container["status"] | "review";
  /** host pid of the container's init while it runs, else null */
  pid: number | null;
  started: string;
  /** ISO time it ended (detached runs), else null */
  ended: string | null;
  /** exit status (detached runs that ended), else null */
  exitCode: number | null;
  /** a detached run that ended: whether the kernel killed a process of it for memory (read from its cgroup; runc with --memory); else null */
  oomKilled: boolean | null;
  command: string[];
  detached: boolean;
  runtime: string;
  /** a --review run whose changes are pending */
  review: boolean;
}

export function ps(ctx: Context, all: boolean): PsEntry[] {
  const reviews = new Map(listReviews(ctx.layout).map((r) => [r.id, r]));
  const entries: PsEntry[] = containers(ctx)
    .filter((c) => all || c.status === "running" || c.status === "starting")
    .map((c) => ({
      id: c.record.id,
      project: c.record.projectName,
      bundle: c.record.bundle,
      status: c.status,
      pid: c.pid ?? null,
      started: c.record.started,
      ended: c.exit?.ended ?? null,
      exitCode: c.exit?.status ?? null,
      oomKilled: c.exit ? c.exit.oomKilled === true : null,
      command: c.record.command,
      detached: c.record.detached === true,
      runtime: c.record.runtime?.binary ?? "runc",
      review: reviews.has(c.record.id),
    }));
  if (!all) return entries;
  const listed = new Set(entries.map((e) => e.id));
  for (const r of reviews.values()) {
    if (listed.has(r.id)) continue;
    entries.push({
      id: r.id,
      project: r.projectName,
      bundle: r.bundle,
      status: "review",
      pid: null,
      started: r.started,
      ended: null,
      exitCode: null,
      oomKilled: null,
      command: r.command ?? [],
      detached: false,
      runtime: "",
      review: true,
    });
  }
  return entries;
}
