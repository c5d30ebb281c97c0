/**
 * Pending reviews: `<data>/.reviews/<id>/` (Layout.reviews) with `review.json` (the run it came
 * from, the project, when it started), `upper/` and `work/` (the overlayfs layer the run wrote
 * to). A review stays until `cm apply` or `cm discard` (cm gc keeps it), across logouts and
 * reboots. The directory is the user's only (0700). Reviews of older cm versions, in
 * `<state>/reviews/`, are still listed, applied and discarded where they are.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LayerPaths, layerPaths, reviewPaths } from "../core/run/sandbox.ts";
import { isErrno } from "../errors.ts";
import { layerMaking } from "../host/fs.ts";

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
  // made aside and renamed in whole: a review is listed with its review.json or not at all
  const m = layerPaths(layerMaking(p.dir));
  mkdirSync(m.dir, { recursive: true, mode: 0o700 }); // <data>/.reviews too (0700)
  mkdirSync(m.upper);
  mkdirSync(m.work);
  const st = lstatSync(record.projectPath);
  chmodSync(m.upper, st.mode & 0o7777);
  if (asRoot) chownSync(m.upper, st.uid, st.gid);
  writeFileSync(join(m.dir, "review.json"), JSON.stringify(record), { mode: 0o600 });
  renameSync(m.dir, p.dir);
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

function reviewsIn(root: string): PendingReview[] {
  let ids: string[];
  try {
    ids = readdirSync(root);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return [];
    throw err;
  }
  // dot-names are layers being removed (host/fs.ts removeLayer)
  return ids
    .filter((id) => !id.startsWith("."))
    .map((id) => readReview(join(root, id)))
    .filter((r): r is PendingReview => r !== undefined);
}

/**
 * Every pending review, oldest first: those in `layout.reviews`, then any an older cm left in
 * `<state>/reviews/` (the same ID in both: the first).
 */
export function listReviews(layout: { reviews: string; state: string }): PendingReview[] {
  const byId = new Map<string, PendingReview>();
  for (const r of [...reviewsIn(layout.reviews), ...reviewsIn(join(layout.state, "reviews"))]) if (!byId.has(r.id)) byId.set(r.id, r);
  return [...byId.values()].sort((a, b) => a.startedMs - b.startedMs);
}

/**
 * Review directories whose review.json cannot be read (damaged: cut short, or written by hand):
 * not pending reviews, but not to be lost silently either. cm gc names them; `cm discard ID`
 * removes one.
 */
export function damagedReviews(layout: { reviews: string; state: string }): { id: string; dir: string }[] {
  const out: { id: string; dir: string }[] = [];
  for (const root of [layout.reviews, join(layout.state, "reviews")]) {
    let ids: string[];
    try {
      ids = readdirSync(root);
    } catch {
      continue;
    }
    for (const id of ids) {
      if (id.startsWith(".")) continue;
      if (readReview(join(root, id)) === undefined) out.push({ id, dir: join(root, id) });
    }
  }
  return out;
}
