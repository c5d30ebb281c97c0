/**
 * The cache's names, pure: what each file in the image blob cache (<cache>/blobs/sha256/) is, and
 * what `cm cache prune [KEY...]` is asked to remove.
 *
 * Blob cache files (image/blob-store.ts writes them):
 *   <hex>                    a complete, verified blob
 *   .<hex>.partial           a download in progress (or left by a killed cm: resumed by the next pull)
 *   .<hex>.lock              the lock of the one process downloading <hex> (store/lock.ts: a symlink naming it)
 *   .<hex>.lock.takeover     the lock of the one process taking a stale .<hex>.lock over
 *   .<hex>.lock.stale-<pid>  a dead owner's lock being cleared by <pid> (older cm)
 *   .<hex>.tmp-<pid>         a manifest being written by <pid> (`<hex>.tmp-<pid>` from older cm)
 */
import { CmError } from "../errors.ts";

export type BlobFile =
  | { kind: "blob"; hex: string }
  | { kind: "partial"; hex: string }
  | { kind: "lock"; hex: string }
  | { kind: "lock-takeover"; hex: string }
  | { kind: "tmp"; hex: string; pid: number }
  | { kind: "stale-lock"; hex: string; pid: number };

const HEX = "[0-9a-f]{64}";
const PATTERNS: [RegExp, BlobFile["kind"]][] = [
  [new RegExp(`^(${HEX})$`), "blob"],
  [new RegExp(`^\\.(${HEX})\\.partial$`), "partial"],
  [new RegExp(`^\\.(${HEX})\\.lock$`), "lock"],
  [new RegExp(`^\\.(${HEX})\\.lock\\.takeover$`), "lock-takeover"],
  [new RegExp(`^\\.?(${HEX})\\.tmp-([1-9][0-9]*)$`), "tmp"],
  [new RegExp(`^\\.(${HEX})\\.lock\\.stale-([1-9][0-9]*)$`), "stale-lock"],
];

/** What a file in the blob cache directory is; undefined for anything cm did not write there (left alone). */
export function blobFile(name: string): BlobFile | undefined {
  for (const [re, kind] of PATTERNS) {
    const m = re.exec(name);
    if (!m) continue;
    const hex = m[1] as string;
    if (kind === "tmp" || kind === "stale-lock") return { kind, hex, pid: Number(m[2]) };
    return { kind, hex } as BlobFile;
  }
  return undefined;
}

/** The key under which `cm cache list` shows the blob cache, and `cm cache prune` takes it. */
export const BLOBS_KEY = "blobs";
/** The key that names every cached base at once. */
export const BASES_KEY = "bases";

export interface PrunePlan {
  /** every base, none, or these keys */
  bases: "all" | "none" | string[];
  blobs: boolean;
}

/**
 * `cm cache prune [KEY...]`: nothing named prunes everything; `blobs` is the image blob cache,
 * `bases` every base, any other KEY one base (it must exist). Base keys start with "debian-", so
 * they never collide with the two group names.
 */
export function prunePlan(keys: readonly string[], baseKeys: readonly string[]): PrunePlan {
  if (keys.length === 0) return { bases: "all", blobs: true };
  const known = new Set(baseKeys);
  const unknown = keys.find((k) => k !== BLOBS_KEY && k !== BASES_KEY && !known.has(k));
  if (unknown !== undefined) {
    throw new CmError("no-base", `no cached base ${JSON.stringify(unknown)}`, {
      hint: `cached: ${[...baseKeys, BASES_KEY, BLOBS_KEY].join(", ")} (see cm cache list)`,
    });
  }
  const named = [...new Set(keys.filter((k) => k !== BLOBS_KEY && k !== BASES_KEY))];
  return {
    bases: keys.includes(BASES_KEY) ? "all" : named.length ? named : "none",
    blobs: keys.includes(BLOBS_KEY),
  };
}
