/**
 * cm diff / cm apply / cm discard: the pending review of a `--review` run (review/). RUN is a
 * review's ID or a unique prefix; without it, the latest pending review of the current project.
 * A review whose run is still going is refused by apply and discard.
 */

import { spawnSync } from "node:child_process";
import { existsSync, rmdirSync } from "node:fs";
import { basename, dirname, join, sep } from "node:path";
import { isatty } from "node:tty";
import { displayName, escapeControls, holder } from "../core/names.ts";
import { reviewPaths } from "../core/run/sandbox.ts";
import { CmError } from "../errors.ts";
import { realPath, removeLayer } from "../host/fs.ts";
import { sameProcess } from "../host/pid.ts";
import { findTool, lastLine } from "../host/tools.ts";
import { applyChanges, removeStage } from "../review/apply.ts";
import { type Change, readChanges } from "../review/changes.ts";
import { damagedReviews, listReviews, type PendingReview, type ReviewRecord } from "../review/store.ts";
import { tryLock } from "../store/lock.ts";
import { readRun } from "../store/runs.ts";
import { type Container, containers, inspect } from "./containers.ts";
import type { Context } from "./context.ts";

/** The review named by `ref`, or the current project's latest. */
export function resolveReview(ctx: Context, ref: string | undefined): PendingReview {
  if (ref !== undefined && !/^[0-9a-f]{1,64}$/.test(ref)) {
    // an empty ID (an unset $ID) would match every review
    throw new CmError("no-review", `${JSON.stringify(ref)} is not a review ID (hex digits, or a unique prefix of them)`, {
      hint: "cm ps -a lists pending reviews",
    });
  }
  const all = listReviews(ctx.layout);
  if (ref !== undefined) {
    const found = all.filter((r) => r.id.startsWith(ref));
    if (found.length === 1) return found[0] as PendingReview;
    throw new CmError("no-review", found.length ? `${ref} names ${found.length} reviews` : `no pending review ${ref}`, {
      hint: found.length ? "give more of the ID" : "cm ps -a lists pending reviews",
    });
  }
  let cwd = ctx.cwd;
  try {
    cwd = realPath(ctx.cwd);
  } catch (err) {
    if (err instanceof CmError) throw err;
    // reported below as no review here
  }
  const mine = all.filter((r) => cwd === r.projectPath || cwd.startsWith(r.projectPath + sep));
  const latest = mine[mine.length - 1];
  if (!latest)
    throw new CmError("no-review", "no pending review for this project", {
      hint: "cm run --review ... first; cm ps -a lists pending reviews",
    });
  return latest;
}

/**
 * Refuses while the review's run is still going: its container (found in this state directory, or
 * through the run directory the review names, which may be another one's) or the process that
 * made the review is alive. Its writes still land in the layer.
 */
function refuseRunning(ctx: Context, r: ReviewRecord, what: string) {
  const going = (c: Container | undefined) => c !== undefined && (c.status === "running" || c.status === "starting");
  // no such run directory (it ended, or is not visible from here): the owner decides
  const record = r.runDir ? readRun(dirname(r.runDir), basename(r.runDir)) : undefined;
  const elsewhere = r.runDir && record ? inspect(r.runDir, record) : undefined;
  const running =
    going(containers(ctx).find((c) => c.record.id === r.id)) ||
    going(elsewhere) ||
    (r.owner !== undefined && sameProcess(r.owner.pid, r.owner.start));
  if (running) {
    throw new CmError("review-running", `cannot ${what} review ${r.id}: its run is still going`, {
      hint: `wait for it, or cm stop ${r.id}${r.runDir && !r.runDir.startsWith(ctx.layout.runs) ? " (with the environment it was started in)" : ""}`,
    });
  }
}

/** The review's changes; `rootless`: the layer was mounted with userxattr (its xattrs under user.). */
export function reviewChanges(r: PendingReview, rootless: boolean): Change[] {
  return readChanges(r.layer.upper, r.projectPath, rootless);
}

/**
 * The one line printed when a reviewed run ends; removes a review with no changes. `reviews`:
 * Layout.reviews; `rootless`: the layer's xattrs are under user. (userxattr).
 */
export function reviewSummary(reviews: string, r: ReviewRecord, rootless: boolean): string {
  const layer = reviewPaths(reviews, r.id);
  // applied or discarded while the run was going (from an environment that could not see it)
  if (!existsSync(layer.upper)) return `cm: review: review ${r.id} was applied or discarded while the run was going`;
  const changes = readChanges(layer.upper, r.projectPath, rootless);
  if (changes.length === 0) {
    removeLayer(layer.dir);
    return "cm: review: the run changed nothing in /project";
  }
  const files = changes.length === 1 ? "1 change" : `${changes.length} changes`;
  return `cm: review: ${files} to /project held back: cm diff ${r.id} | cm apply ${r.id} | cm discard ${r.id}`;
}

const LETTER = { added: "A", modified: "M", deleted: "D" } as const;

/** "setuid", "setgid", "sticky" (joined with "+") for the special bits of a mode. */
function specialBits(mode: number): string {
  const bits: string[] = [];
  if (mode & 0o4000) bits.push("setuid");
  if (mode & 0o2000) bits.push("setgid");
  if (mode & 0o1000) bits.push("sticky");
  return bits.join("+");
}

function describe(c: Change, ctxMode = true): string {
  const kind =
    c.type === "dir" || (c.kind === "deleted" && c.before === "dir")
      ? "/"
      : c.type === "symlink" && c.target !== undefined
        ? ` -> ${displayName(c.target)}`
        : "";
  // setuid, setgid and sticky bits are always shown: `cm apply` as root keeps the run's owner, so a
  // setuid-root program added to the project must not look like any other file in the review
  const special = c.mode !== undefined && (c.mode & 0o7000) !== 0;
  const mode =
    c.mode !== undefined && ((ctxMode && c.modeOnly) || special)
      ? ` (mode ${c.mode.toString(8)}${special ? `: ${specialBits(c.mode)}` : ""})`
      : "";
  return `${LETTER[c.kind]} ${displayName(c.path)}${kind}${mode}`;
}

/** cm diff: a list, then a unified diff of the files; `stat`: the list with line counts; `json`. */
export function diff(ctx: Context, ref: string | undefined, opts: { stat?: boolean; json?: boolean }, write: (s: string) => void): number {
  const r = resolveReview(ctx, ref);
  try {
    return showDiff(r, ctx.rootless, opts, write);
  } catch (err) {
    // another cm applied or discarded it while this one read it
    if (!existsSync(r.layer.dir)) throw goneMeanwhile(r, "cm diff read it");
    throw err;
  }
}

function goneMeanwhile(r: ReviewRecord, during: string): CmError {
  return new CmError("no-review", `review ${r.id} was applied or discarded by another cm while ${during}`, {
    hint: "cm ps -a lists pending reviews",
  });
}

function showDiff(r: PendingReview, rootless: boolean, opts: { stat?: boolean; json?: boolean }, write: (s: string) => void): number {
  const changes = reviewChanges(r, rootless);
  const { upper } = r.layer;
  if (opts.json) {
    write(`${JSON.stringify({ id: r.id, project: r.projectName, projectPath: r.projectPath, changes }, null, 2)}\n`);
    return 0;
  }
  const diffTool = findTool("diff");
  const unified = (c: Change): string => {
    if (c.modeOnly || c.type === "dir" || (c.kind === "deleted" && c.before === "dir")) return "";
    if (!diffTool) throw new CmError("tool-missing", "cm diff needs diff (diffutils)", { hint: "apt-get install diffutils" });
    const before = c.kind === "added" || c.before !== "file" ? "/dev/null" : join(r.projectPath, c.path);
    const after = c.kind === "deleted" || c.type !== "file" ? "/dev/null" : join(upper, c.path);
    const res = spawnSync(diffTool, ["-u", "--label", `a/${displayName(c.path)}`, "--label", `b/${displayName(c.path)}`, before, after], {
      encoding: "utf8",
      maxBuffer: 1 << 30,
    });
    // diff: 0 same, 1 different, 2 trouble (a file gone or unreadable): never shown as "no change"
    if (res.status !== 0 && res.status !== 1) {
      if (!existsSync(r.layer.dir)) throw goneMeanwhile(r, "cm diff read it");
      throw new CmError("diff-failed", `cannot show ${displayName(c.path)}: ${lastLine(res.stderr) || `diff exited ${res.status}`}`, {
        hint: "cm diff --stat lists the changes without their contents",
      });
    }
    return res.stdout;
  };
  if (opts.stat) {
    for (const c of changes) {
      const d = unified(c);
      const plus = d.split("\n").filter((l) => l.startsWith("+") && !l.startsWith("+++")).length;
      const minus = d.split("\n").filter((l) => l.startsWith("-") && !l.startsWith("---")).length;
      write(`${describe(c)}${d ? ` | +${plus} -${minus}` : ""}\n`);
    }
    write(`${changes.length} changed\n`);
    return 0;
  }
  for (const c of changes) write(`${describe(c)}\n`);
  if (changes.length) write("\n");
  // On a terminal, the run's file contents must not rewrite the review (an escape sequence could
  // erase the line you are asked to approve): control characters shown as \uXXXX. Piped, the
  // diff stays exact (a patch).
  const shown = isatty(1) ? (d: string) => d.split("\n").map(escapeControls).join("\n") : (d: string) => d;
  for (const c of changes) write(shown(unified(c)));
  return 0;
}

/**
 * Runs `fn` holding review `r`'s lock (`.<id>.lock` beside its layer, store/lock.ts): one apply or
 * discard at a time, so a discard cannot pull the layer from under an apply (the project was left
 * half applied and the review gone). Then removes the reviews directory if it is left empty.
 */
function withReviewLock<T>(r: PendingReview, what: string, fn: () => T): T {
  const root = dirname(r.layer.dir);
  const lock = tryLock(join(root, `.${r.id}.lock`));
  if (!("release" in lock)) {
    throw new CmError("review-busy", `cannot ${what} review ${r.id}: ${holder(lock.heldBy)} is applying or discarding it`, {
      hint: "wait for it to finish (cm ps -a shows whether the review is still pending)",
    });
  }
  try {
    // the review may be gone by the time the lock is ours
    if (!existsSync(join(r.layer.dir, "review.json"))) throw goneMeanwhile(r, `this one waited to ${what} it`);
    return fn();
  } finally {
    lock.release();
    try {
      rmdirSync(root);
    } catch {
      // not empty, or gone
    }
  }
}

/** cm apply: writes the review's changes into the project, then removes the review. */
export function apply(ctx: Context, ref: string | undefined, force: boolean, write: (s: string) => void): number {
  const r = resolveReview(ctx, ref);
  refuseRunning(ctx, r, "apply");
  const res = withReviewLock(r, "apply", () => {
    const { upper, dir } = r.layer;
    const changes = readChanges(upper, r.projectPath, ctx.rootless);
    const applied = applyChanges({
      id: r.id,
      upper,
      project: r.projectPath,
      startedMs: r.startedMs,
      changes,
      force,
      keepOwners: !ctx.rootless,
    });
    removeLayer(dir);
    return applied;
  });
  write(
    `cm: applied review ${r.id} to ${escapeControls(r.projectPath)}: ${res.written} written, ${res.deleted} deleted${res.skipped ? `, ${res.skipped} already applied` : ""}\n`,
  );
  return 0;
}

/** cm discard: drops the review's changes (and what an interrupted apply staged in the project). */
export function discard(ctx: Context, ref: string | undefined, write: (s: string) => void): number {
  // a damaged review (no readable review.json) is named by its whole ID only
  const damaged = ref === undefined ? undefined : damagedReviews(ctx.layout).find((d) => d.id === ref);
  if (damaged) {
    removeLayer(damaged.dir);
    write(`cm: discarded damaged review ${damaged.id}\n`);
    return 0;
  }
  const r = resolveReview(ctx, ref);
  refuseRunning(ctx, r, "discard");
  withReviewLock(r, "discard", () => {
    removeStage(r.projectPath, r.id);
    removeLayer(r.layer.dir);
  });
  write(`cm: discarded review ${r.id}\n`);
  return 0;
}
