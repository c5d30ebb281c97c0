/**
 * What a `--review` run changed: its overlayfs upper directory read against the project (the
 * lower directory). The upper holds every file and directory the run created or modified (a whole
 * copy: cm mounts with metacopy=off and redirect_dir=off, so no metadata-only copies and no
 * redirects), plus:
 *   - whiteouts, a deleted name: a character device 0/0, or (kernel "xwhiteout") an empty file
 *     with the `overlay.whiteout` xattr;
 *   - opaque directories, a directory that replaced the lower one entirely: the xattr
 *     `overlay.opaque` = "y" (or "x" for a directory holding xwhiteouts);
 * under `trusted.` as root, `user.` when mounted with `userxattr` (rootless).
 * A rename shows as a delete plus an add (without redirect_dir the kernel makes userspace copy a
 * renamed directory). A file copied up but left equal (opened for writing, touched) is no change.
 * The xattrs are read with one `getfattr -R` for the whole upper (Node has no getxattr).
 */
import { spawnSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import { escapeControls } from "../core/names.ts";
import { CmError, isErrno } from "../errors.ts";
import { showBytes, utf8 } from "../host/decoding.ts";
import { requireTool } from "../host/tools.ts";

export type ChangeKind = "added" | "modified" | "deleted";

export interface Change {
  /** relative to the project, "/"-separated */
  path: string;
  kind: ChangeKind;
  /** what the path is after the run (absent for deleted) */
  type?: "file" | "dir" | "symlink" | undefined;
  /** what it was before (absent for added) */
  before?: "file" | "dir" | "symlink" | "other" | undefined;
  /** a symlink's target after the run */
  target?: string | undefined;
  /** permission bits after the run */
  mode?: number | undefined;
  /** only the permission bits changed */
  modeOnly?: boolean | undefined;
}

type Kind = "file" | "dir" | "symlink" | "other";

function kindOf(st: Stats): Kind {
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Overlay xattrs of every entry below `upper`: relative path -> { name: value } (names without the
 * namespace). Only the namespace the overlay was mounted with: `trusted.` as root, `user.` with
 * userxattr (rootless). As root the container can set `user.overlay.*` itself (only `trusted.` is
 * the kernel's), and must not fake a whiteout or an opaque directory that way.
 */
export function overlayXattrs(upper: string, userxattr: boolean): Map<string, Record<string, string>> {
  const getfattr = requireTool("getfattr");
  const ns = userxattr ? "user" : "trusted";
  const r = spawnSync(getfattr, ["-R", "-P", "-h", "-d", "-m", `^${ns}\\.overlay\\.`, "-e", "text", "--absolute-names", upper], {
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  const out = new Map<string, Record<string, string>>();
  let current: Record<string, string> | undefined;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("# file: ")) {
      const abs = unescapeGetfattr(line.slice(8));
      const rel = abs === upper ? "" : abs.slice(upper.length + 1);
      current = {};
      out.set(rel, current);
    } else if (current && line.includes("=")) {
      const eq = line.indexOf("=");
      const name = line.slice(0, eq).replace(/^(trusted|user)\.overlay\./, "");
      current[name] = line.slice(eq + 1).replace(/^"|"$/g, "");
    }
  }
  return out;
}

/** getfattr escapes odd bytes in names as \ooo (octal). */
function unescapeGetfattr(s: string): string {
  return Buffer.from(
    s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8))),
    "latin1",
  ).toString("utf8");
}

function isWhiteout(st: Stats, x: Record<string, string> | undefined): boolean {
  if (st.isCharacterDevice() && st.rdev === 0) return true;
  return st.isFile() && st.size === 0 && x?.whiteout !== undefined;
}

/** Whether two regular files have the same bytes. */
export function sameContent(a: string, b: string): boolean {
  const sa = lstatSync(a);
  const sb = lstatSync(b);
  if (sa.size !== sb.size) return false;
  return readFileSync(a).equals(readFileSync(b));
}

/** Everything below `lower/rel` (for an opaque directory or a replaced one): deleted, deepest last. */
function lowerTree(lower: string, rel: string, out: Change[]) {
  const st = lstatOrUndefined(join(lower, rel));
  if (!st) return;
  if (st.isDirectory()) {
    for (const name of names(join(lower, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      out.push({ path: child, kind: "deleted", before: kindOf(lstatSync(join(lower, child))) });
      lowerTree(lower, child, out);
    }
  }
}

/**
 * The changes of an upper directory against `lower`, in path order (parents before children).
 * Entries of other kinds in the upper (devices, FIFOs, sockets) are refused: they cannot be applied.
 */
export function readChanges(upper: string, lower: string, userxattr: boolean): Change[] {
  if (!lstatOrUndefined(upper)?.isDirectory()) {
    throw new CmError("review-damaged", `the review's layer has no upper directory (${escapeControls(upper)})`, {
      hint: "cm discard removes what is left of it",
    });
  }
  const xattrs = overlayXattrs(upper, userxattr);
  const out: Change[] = [];
  // `replaced`: below an opaque directory. The lower tree there is hidden whole, so each upper
  // entry is compared with the lower one at its path, and every lower entry the upper does not
  // have is deleted, at every depth (after rm -rf d && mkdir -p d/a, lower d/a/y is gone too)
  const walk = (rel: string, lowerVisible: boolean, replaced: boolean) => {
    for (const name of names(rel ? join(upper, rel) : upper).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(upper, path));
      const x = xattrs.get(path);
      const low = lowerVisible ? lstatOrUndefined(join(lower, path)) : undefined;
      if (isWhiteout(st, x)) {
        if (low) {
          out.push({ path, kind: "deleted", before: kindOf(low) });
          if (low.isDirectory()) lowerTree(lower, path, out);
        }
        continue;
      }
      const type = kindOf(st);
      if (type === "other") {
        throw new CmError(
          "review-unsupported",
          `the run created ${path}, a ${st.isFIFO() ? "FIFO" : st.isSocket() ? "socket" : "device"}: cm cannot apply it`,
          {
            hint: "cm discard, or copy what you need from cm diff",
          },
        );
      }
      const mode = st.mode & 0o7777;
      if (type === "dir") {
        const opaque = x?.opaque === "y" || x?.opaque === "x" || replaced;
        if (!low) out.push({ path, kind: "added", type, mode });
        else if (!low.isDirectory()) {
          out.push({ path, kind: "modified", type, before: kindOf(low), mode });
        } else {
          if ((low.mode & 0o7777) !== mode) out.push({ path, kind: "modified", type, before: "dir", mode, modeOnly: true });
          if (opaque) {
            // the directory was removed and made again (or is below one that was): whatever of the
            // lower is not in the upper is gone
            const kept = new Set(names(join(upper, path)));
            for (const n of names(join(lower, path)).sort()) {
              if (kept.has(n)) continue;
              const child = `${path}/${n}`;
              out.push({ path: child, kind: "deleted", before: kindOf(lstatSync(join(lower, child))) });
              lowerTree(lower, child, out);
            }
          }
        }
        walk(path, low?.isDirectory() === true, opaque && low?.isDirectory() === true);
        continue;
      }
      if (!low) {
        out.push({ path, kind: "added", type, ...linkOrMode(type, join(upper, path), mode) });
        continue;
      }
      const lowKind = kindOf(low);
      if (lowKind !== type) {
        out.push({ path, kind: "modified", type, before: lowKind, ...linkOrMode(type, join(upper, path), mode) });
        if (lowKind === "dir") lowerTree(lower, path, out);
        continue;
      }
      if (type === "symlink") {
        const target = linkTarget(join(upper, path));
        if (target !== linkTarget(join(lower, path))) out.push({ path, kind: "modified", type, before: type, target });
        continue;
      }
      const same = sameContent(join(upper, path), join(lower, path));
      const modeSame = (low.mode & 0o7777) === mode;
      if (!same || !modeSame) out.push({ path, kind: "modified", type, before: type, mode, modeOnly: same });
    }
  };
  try {
    walk("", true, false);
  } catch (err) {
    throw unreadable(err, upper);
  }
  // deletions found under a replaced directory come after it; keep parents before children overall
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The error for what the walk of an upper could not read: one line for what a run can cause. */
function unreadable(err: unknown, upper: string): unknown {
  // a container can nest directories past PATH_MAX (4096 bytes), or deeper than a walk can go
  if (isErrno(err, "ENAMETOOLONG") || err instanceof RangeError)
    return new CmError("review-unsupported", "the run made paths in /project too deep for cm to diff or apply (over 4096 bytes long)", {
      hint: "cm discard drops them",
    });
  // rootless, a directory the run left without read or search permission (chmod 000) is closed
  // to cm too; cm does not change modes in the run's layer to look (they are part of its result)
  if (isErrno(err, "EACCES")) {
    const where = String((err as NodeJS.ErrnoException).path ?? "");
    if (!where.startsWith(`${upper}/`)) {
      // the project's own side: a directory on the host that cm may not read
      return new CmError("review-unsupported", `cannot read ${escapeControls(where)} in the project to compare the run with it`, {
        hint: "give yourself read access to it (chmod u+rx), then cm diff / cm apply again; or cm discard",
      });
    }
    return new CmError(
      "review-unsupported",
      `the run left /project/${escapeControls(where.slice(upper.length + 1))} unreadable (its mode denies access): cm cannot diff or apply the run`,
      { hint: "cm discard drops the run's changes; or chmod it in a run and review that one" },
    );
  }
  return err;
}

function linkOrMode(type: Kind, upperPath: string, mode: number): { target: string } | { mode: number } {
  return type === "symlink" ? { target: linkTarget(upperPath) } : { mode };
}

/**
 * A directory's entries and a link's target as strings, refused when not valid UTF-8 (the run can
 * name a file with any bytes): Node's U+FFFD would name another file, and cm apply would copy the
 * wrong one or lose the name. cm discard drops such a run's changes.
 */
function names(dir: string): string[] {
  return readdirSync(dir, { encoding: "buffer" }).map((b) => decoded(b, dir));
}

function linkTarget(path: string): string {
  return decoded(readlinkSync(path, { encoding: "buffer" }), path);
}

function decoded(bytes: Buffer, where: string): string {
  const text = utf8(bytes);
  if (text === undefined) {
    throw new CmError(
      "review-unsupported",
      `the run made a name that is not valid UTF-8 in ${where}: "${showBytes(bytes)}"; cm cannot diff or apply it`,
      {
        hint: "cm discard drops the run's changes; or rename it in a cm run and review that run",
      },
    );
  }
  return text;
}
