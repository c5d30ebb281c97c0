/**
 * Pending reviews: `<data>/.reviews/<id>/` (Layout.reviews) with `review.json` (the run it came
 * from, the project, when it started), `upper/` and `work/` (the overlayfs layer the run wrote
 * to). A review stays until `cm apply` or `cm discard` (cm gc keeps it), across logouts and
 * reboots. The directory is the user's only (0700). Reviews of older cm versions, in
 * `<state>/reviews/`, are still listed, applied and discarded where they are.
 */
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type LayerPaths, layerPaths, reviewPaths } from "../core/run/sandbox.ts";
import { isErrno } from "../errors.ts";
import { makeLayer } from "../host/fs.ts";

export interface ReviewRecord {
  id: string;
  projectKey: string;
  projectName: string;
  projectPath: string;
  bundle: string;
  started: string;
  /** ms since the epoch, compared with host files' ctime by cm apply */
  startedMs: number;
  /** the run's command (its run record's), for cm ps; absent in reviews made before it was recorded */
  command?: string[] | undefined;
  /**
   * The run's directory and the process that made the review (cm run, or a detached run's
   * monitor), its pid and start time: apply and discard refuse while either says the run is still
   * going, also from another state directory. Absent in reviews of older cm versions.
   */
  runDir?: string | undefined;
  owner?: { pid: number; start: number | undefined } | undefined;
}

/** A pending review as found: its record and its layer. */
export interface PendingReview extends ReviewRecord {
  layer: LayerPaths;
}

/**
 * Makes a review's directories in `reviews` (Layout.reviews) before its run (paths checked for
 * overlayfs by core/run/sandbox.ts). The upper's root takes the project directory's mode (and
 * owner, as root): it is what the container sees as /project.
 */
export function createReview(reviews: string, record: ReviewRecord, asRoot: boolean): LayerPaths {
  const p = reviewPaths(reviews, record.id);
  // whole or not at all: a review is listed with its review.json
  makeLayer(p, lstatSync(record.projectPath), asRoot, { "review.json": JSON.stringify(record) });
  return p;
}

function readReview(dir: string): PendingReview | undefined {
  try {
    const record = JSON.parse(readFileSync(join(dir, "review.json"), "utf8")) as ReviewRecord;
    return { ...record, layer: layerPaths(dir) };
  } catch {
    return undefined;
  }
}

/**
 * The review directories: those in `layout.reviews`, then any an older cm left in
 * `<state>/reviews/`. Dot-names are layers being made or removed (host/fs.ts), not reviews. A
 * directory that cannot be read is skipped with `skipUnreadable`, else an error (one that is not
 * there or not a directory is always skipped).
 */
function reviewDirs(layout: { reviews: string; state: string }, skipUnreadable: boolean): { id: string; dir: string }[] {
  const out: { id: string; dir: string }[] = [];
  for (const root of [layout.reviews, join(layout.state, "reviews")]) {
    let ids: string[];
    try {
      ids = readdirSync(root);
    } catch (err) {
      if (skipUnreadable || isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) continue;
      throw err;
    }
    for (const id of ids) if (!id.startsWith(".")) out.push({ id, dir: join(root, id) });
  }
  return out;
}

/** Every pending review, oldest first (the same ID in both places: the first). */
export function listReviews(layout: { reviews: string; state: string }): PendingReview[] {
  const byId = new Map<string, PendingReview>();
  for (const { dir } of reviewDirs(layout, false)) {
    const r = readReview(dir);
    if (r && !byId.has(r.id)) byId.set(r.id, r);
  }
  return [...byId.values()].sort((a, b) => a.startedMs - b.startedMs);
}

/**
 * Review directories whose review.json cannot be read (damaged: cut short, or written by hand):
 * not pending reviews, but not to be lost silently either. cm gc names them; `cm discard ID`
 * removes one.
 */
export function damagedReviews(layout: { reviews: string; state: string }): { id: string; dir: string }[] {
  // cm gc calls it: a reviews directory it cannot read is not its to report
  return reviewDirs(layout, true).filter((d) => readReview(d.dir) === undefined);
}
