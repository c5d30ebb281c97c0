/**
 * Approved project files (the direnv / mise model): a `cm.toml` takes effect only once its owner
 * approved that exact content for that exact place with `cm trust`. The project directory is
 * writable by every container of the project and by whoever a repository was cloned from, so
 * nothing read from it may loosen the sandbox unless the user said yes to it.
 *
 *   <config>/trusted/<sha256 of the file's real path>.json
 *     { "path": real path of cm.toml, "sha256": of the approved bytes, "approved": ISO time, "text": the bytes }
 *
 * <config> is $CM_CONFIG_DIR, else ${XDG_CONFIG_HOME:-~/.config}/cm: outside every project, a
 * private directory of the user (checked like the state directory). The approved text is kept so
 * that `cm trust --show` can say what changed since. CM_TRUST_ALL=1 in the user's environment
 * turns the check off for this machine (a project cannot set cm's environment).
 * The hashes are core/sha256.ts (pure JavaScript: node:crypto would cost ~3 ms of the start).
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, type Stats, unlinkSync } from "node:fs";
import { join } from "node:path";
import { escapeControls } from "../core/names.ts";
import { sha256Hex } from "../core/sha256.ts";
import { CmError, isErrno } from "../errors.ts";
import { writeFileAtomic } from "../host/fs.ts";

export interface TrustRecord {
  path: string;
  sha256: string;
  approved: string;
  text: string;
}

export type TrustState =
  | { state: "trusted"; record: TrustRecord }
  | { state: "new" }
  | { state: "changed"; record: TrustRecord }
  | { state: "off" };

/** The environment variable that turns approval off for this user (value "1"). */
export const TRUST_ALL_ENV = "CM_TRUST_ALL";

function trustDir(config: string): string {
  return join(config, "trusted");
}

function recordPath(config: string, filePath: string): string {
  return join(trustDir(config), `${sha256Hex(filePath)}.json`);
}

/** A directory of cm's that must be the user's own: not a symlink, owned by uid, closed to others. */
function checkPrivateDir(dir: string, uid: number, what: string, envName: string): boolean {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) {
    throw new CmError("unsafe-config-dir", `${what} ${dir} is not a directory owned by you and closed to others`, {
      hint: `remove it, or set ${envName} to a directory only you can write`,
    });
  }
  return true;
}

/** Reads the record of `filePath`; undefined when there is none. A record not owned by uid is refused. */
function readRecord(path: string, uid: number): TrustRecord | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    if (isErrno(err, "ELOOP")) return undefined; // a symlink is never ours: not approved
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== uid) return undefined;
    const r = JSON.parse(readFileSync(fd, "utf8")) as TrustRecord;
    return typeof r.path === "string" && typeof r.sha256 === "string" && typeof r.text === "string" ? r : undefined;
  } catch {
    return undefined; // damaged: as if never approved
  } finally {
    closeSync(fd);
  }
}

export interface TrustPlace {
  /** cm's config directory (Layout.config) */
  config: string;
  uid: number;
  env: Record<string, string | undefined>;
}

/** Is this content of the file at `filePath` (a real path) approved? */
export async function trustState(place: TrustPlace, filePath: string, text: string): Promise<TrustState> {
  if (place.env[TRUST_ALL_ENV] === "1") return { state: "off" };
  checkPrivateDir(place.config, place.uid, "cm's config directory", "CM_CONFIG_DIR");
  if (!checkPrivateDir(trustDir(place.config), place.uid, "cm's trust directory", "CM_CONFIG_DIR")) return { state: "new" };
  const record = readRecord(recordPath(place.config, filePath), place.uid);
  if (!record || record.path !== filePath) return { state: "new" };
  return record.sha256 === sha256Hex(text) ? { state: "trusted", record } : { state: "changed", record };
}

/** Records `text` as the approved content of `filePath`. */
export async function approve(place: TrustPlace, filePath: string, text: string): Promise<void> {
  const dir = trustDir(place.config);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new CmError("config-dir", `cannot create ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      hint: "make cm's config directory writable, or set CM_CONFIG_DIR to a directory of yours",
    });
  }
  checkPrivateDir(place.config, place.uid, "cm's config directory", "CM_CONFIG_DIR");
  checkPrivateDir(dir, place.uid, "cm's trust directory", "CM_CONFIG_DIR");
  const record: TrustRecord = { path: filePath, sha256: sha256Hex(text), approved: new Date().toISOString(), text };
  writeFileAtomic(recordPath(place.config, filePath), `${JSON.stringify(record)}\n`, 0o600);
}

/** Removes the approval of `filePath`; false when there was none. */
export async function revoke(place: TrustPlace, filePath: string): Promise<boolean> {
  if (!checkPrivateDir(trustDir(place.config), place.uid, "cm's trust directory", "CM_CONFIG_DIR")) return false;
  try {
    unlinkSync(recordPath(place.config, filePath));
    return true;
  } catch (err) {
    if (isErrno(err, "ENOENT")) return false;
    throw err;
  }
}

/**
 * A line diff of `before` -> `after` ("- " removed, "+ " added, "  " kept), for a terminal: each
 * line's control characters escaped (core/names.ts escapeControls: a container writes cm.toml, and
 * the text must not rewrite what the user reviews). The common head and tail are kept; between
 * them, longest common subsequence, or all removed then all added when that would take more than
 * DIFF_CELLS cells (a container can make the file huge). Written here rather than taken from a
 * package: ~40 lines, on no hot path, and the bound on memory is ours to keep.
 */
export function lineDiff(before: string, after: string): string[] {
  // a final newline ends the last line; it does not start an empty one
  const a = before.replace(/\n$/, "").split("\n");
  const b = after.replace(/\n$/, "").split("\n");
  // the common head and tail are kept as they are; only what lies between is compared
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const show = (mark: string, line: string) => `${mark} ${escapeControls(line)}`;
  const out = a.slice(0, head).map((l) => show(" ", l));
  const mid = diffMiddle(a.slice(head, a.length - tail), b.slice(head, b.length - tail));
  for (const [mark, line] of mid) out.push(show(mark, line));
  for (const l of a.slice(a.length - tail)) out.push(show(" ", l));
  return out;
}

/** Above this many cells (lines before x lines after) the middle is shown as removed, then added: memory stays bounded. */
const DIFF_CELLS = 1_000_000;

function diffMiddle(a: string[], b: string[]): [string, string][] {
  const n = a.length;
  const m = b.length;
  if ((n + 1) * (m + 1) > DIFF_CELLS) return [...a.map((l): [string, string] => ["-", l]), ...b.map((l): [string, string] => ["+", l])];
  const w = m + 1;
  // lcs[i * w + j]: length of the longest common subsequence of a[i..] and b[j..]
  const lcs = new Int32Array((n + 1) * w);
  const at = (i: number, j: number) => lcs[i * w + j] as number;
  for (let i = n - 1; i >= 0; i--)
    for (let j = m - 1; j >= 0; j--) lcs[i * w + j] = a[i] === b[j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
  const out: [string, string][] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push([" ", a[i] as string]);
      i++;
      j++;
    } else if (i < n && (j === m || at(i + 1, j) >= at(i, j + 1))) {
      out.push(["-", a[i] as string]);
      i++;
    } else {
      out.push(["+", b[j] as string]);
      j++;
    }
  }
  return out;
}
