/**
 * The sandbox options' part in executing a run (actions/runexec.ts steps), built from the run
 * record alone, so that `cm run` in the foreground, the monitor of a detached run and post_create
 * start the same helpers:
 *   --allow-host  before the start: serve cm's proxy into the container's network namespace
 *                 (proxy/egress.ts); at the end: close it, and with --verbose count what it did
 *   --review      before the start: the review's layer (review/store.ts); at the end: one line
 *                 saying what the run changed in /project (the review is dropped if nothing)
 *   --ephemeral   before the start: the root filesystem's layer (<data>/.ephemeral/<id>); at
 *                 the end: removed, so the run's changes are gone
 * Modules are loaded only for the options a run uses (`cm run -- true` is benchmarked).
 */
import { lstatSync } from "node:fs";
import { EPHEMERAL_OWNER_FILE, type EphemeralOwner, ephemeralPaths, type OverlayRoots } from "../core/run/sandbox.ts";
import { CmError } from "../errors.ts";
import { makeLayer, removeLayer } from "../host/fs.ts";
import { startTime } from "../host/pid.ts";
import type { RunRecord } from "../store/runs.ts";
import type { RunStep } from "./runexec.ts";

export interface SandboxStepOptions {
  /** where the overlay layers go (the user's Layout) */
  layers: OverlayRoots;
  rootless: boolean;
  /** the bundle's rootfs (real path): the ephemeral upper's root takes its mode and owner */
  rootfs: string;
  /** where cm's own lines go: stderr in the foreground, the log of a detached run; no "cm: " prefix */
  say: (line: string) => void;
}

/** The steps for the sandbox options in `record` (none: an empty list). */
export function sandboxSteps(record: RunRecord, opts: SandboxStepOptions): RunStep[] {
  const steps: RunStep[] = [];
  const egress = record.egress;
  if (egress) {
    steps.push({
      async beforeStart(run) {
        const { parseAllowHost } = await import("../core/run/allowhost.ts");
        const { startEgress } = await import("../proxy/egress.ts");
        const proxy = startEgress(run.dir, {
          allow: egress.allow.map((p) => parseAllowHost(p)),
          rootless: egress.rootless,
          report: (line) => {
            if (!egress.quiet) opts.say(line);
          },
        });
        return () => {
          proxy.close();
          const { allowed, blocked } = proxy.stats;
          if (egress.verbose) opts.say(`egress: ${allowed} connection${allowed === 1 ? "" : "s"} allowed, ${blocked} refused`);
        };
      },
    });
  }
  if (record.review) {
    steps.push({
      async beforeStart(run) {
        const { createReview } = await import("../review/store.ts");
        const { reviewSummary } = await import("./review.ts");
        const startedMs = Date.now();
        const review = {
          id: run.id,
          projectKey: record.projectKey,
          projectName: record.projectName,
          projectPath: record.projectPath,
          bundle: record.bundle,
          started: new Date(startedMs).toISOString(),
          startedMs,
          command: record.command,
          runDir: run.dir,
          owner: { pid: process.pid, start: startTime(process.pid) },
        };
        createReview(opts.layers.reviews, review, !opts.rootless);
        return () => {
          try {
            opts.say(reviewSummary(opts.layers.reviews, review, opts.rootless).replace(/^cm: /, ""));
          } catch (err) {
            // the run's own result stands; the review stays for cm diff / cm discard
            if (!(err instanceof CmError)) throw err;
            opts.say(`review ${run.id}: ${err.message}${err.hint ? ` (${err.hint})` : ""}`);
          }
        };
      },
    });
  }
  if (record.ephemeral) {
    steps.push({
      beforeStart(run) {
        const p = ephemeralPaths(opts.layers.ephemeral, run.id);
        // naming its run directory and this process: cm gc removes a layer whose run has ended
        const owner: EphemeralOwner = { runDir: run.dir, pid: process.pid, start: startTime(process.pid) };
        // the upper's root is the container's "/": it takes the rootfs's mode and owner
        makeLayer(p, lstatSync(opts.rootfs), !opts.rootless, { [EPHEMERAL_OWNER_FILE]: JSON.stringify(owner) });
        return () => {
          try {
            removeLayer(p.dir);
          } catch (err) {
            // the run's own result stands; cm gc removes a layer whose run is gone
            opts.say(`could not remove this run's root filesystem changes (${p.dir}): ${(err as Error).message}`);
          }
        };
      },
    });
  }
  return steps;
}
