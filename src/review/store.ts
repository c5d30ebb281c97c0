/**
 * Pending reviews: `<state>/reviews/<id>/` with `review.json` (the run it came from, the project,
 * when it started), `upper/` and `work/` (the overlayfs layer the run wrote to). A review stays
 * until `cm apply` or `cm discard` (cm gc keeps it). The directory is the user's only (0700).
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { reviewPaths, reviewsDir } from "../core/run/sandbox.ts";
import { isErrno } from "../errors.ts";

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
}

/**
 * Makes a review's directories before its run (paths checked for overlayfs by core/run/sandbox.ts). The upper's root takes the project directory's
 * mode (and owner, as root): it is what the container sees as /project.
 */
export function createReview(state: string, record: ReviewRecord, asRoot: boolean): { upper: string; work: string } {
  const p = reviewPaths(state, record.id);
  mkdirSync(reviewsDir(state), { recursive: true, mode: 0o700 });
  mkdirSync(p.dir, { mode: 0o700 });
  mkdirSync(p.upper);
  mkdirSync(p.work);
  const st = lstatSync(record.projectPath);
  chmodSync(p.upper, st.mode & 0o7777);
  if (asRoot) chownSync(p.upper, st.uid, st.gid);
  writeFileSync(join(p.dir, "review.json"), JSON.stringify(record));
  return p;
}

export function readReview(state: string, id: string): ReviewRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(reviewsDir(state), id, "review.json"), "utf8")) as ReviewRecord;
  } catch {
    return undefined;
  }
}

/** Every pending review, oldest first. */
export function listReviews(state: string): ReviewRecord[] {
  let ids: string[];
  try {
    ids = readdirSync(reviewsDir(state));
  } catch (err) {
    if (isErrno(err, "ENOENT")) return [];
    throw err;
  }
  return ids
    .map((id) => readReview(state, id))
    .filter((r): r is ReviewRecord => r !== undefined)
    .sort((a, b) => a.startedMs - b.startedMs);
}
