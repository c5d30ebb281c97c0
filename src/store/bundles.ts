/**
 * Bundles on disk: <data>/<project key>/<bundle>/{rootfs/,config.json}. A bundle directory exists
 * only when complete: create builds it under a dot-name and renames it into place. Names starting
 * with "." inside a project directory are cm's own work in progress (creating, deleting, locks).
 */

import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, type Stats } from "node:fs";
import { join } from "node:path";
import { holder } from "../core/names.ts";
import { ANNOTATION, type OciSpec } from "../core/runtime-spec/index.ts";
import { CmError, isErrno } from "../errors.ts";
import { readDirOrEmpty } from "../host/fs.ts";
import { type Lock, tryLock } from "./lock.ts";

export interface BundleInfo {
  projectKey: string;
  projectName: string;
  projectPath: string;
  bundle: string;
  dir: string;
  source: string;
  created: string;
  rootless: boolean;
  sizeBytes: number | undefined;
  spec: OciSpec;
}

export const SIZE_ANNOTATION = "dev.cm.size";

export function projectDir(data: string, key: string): string {
  return join(data, key);
}

/** Where the lock of `bundle` in the project directory `pdir` is (a create or delete holds it). */
export function bundleLockPath(pdir: string, bundle: string): string {
  return join(pdir, `.${bundle}.lock`);
}

/**
 * Takes bundle `bundle`'s lock in project directory `pdir` (`.<bundle>.lock`), held while it is
 * created or deleted; another cm holding it is a `bundle-busy` error.
 */
export function lockBundle(pdir: string, bundle: string): Lock {
  const lock = tryLock(bundleLockPath(pdir, bundle));
  if ("release" in lock) return lock;
  throw new CmError("bundle-busy", `bundle ${JSON.stringify(bundle)} is being created or deleted by ${holder(lock.heldBy)}`, {
    hint: "wait for it to finish, then try again",
  });
}

export function bundleDir(data: string, key: string, bundle: string): string {
  return join(data, key, bundle);
}

/**
 * A directory cm made in its data directory: a real directory (never followed through a symlink)
 * of this user. undefined when it does not exist; anything else is refused with one line.
 */
function ownDirectory(dir: string): Stats | undefined {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw err;
  }
  const uid = process.getuid?.() ?? 0;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new CmError(
      "unsafe-data",
      `${dir} is ${st.isSymbolicLink() ? "a symbolic link" : st.isDirectory() ? "not owned by you" : "not a directory"}: cm did not make it`,
      {
        hint: "remove it (cm follows no symbolic link and reads nothing of another user in its data directory)",
      },
    );
  }
  return st;
}

/** Reads a bundle's config.json; undefined when the bundle does not exist. */
export function readBundle(data: string, key: string, bundle: string): BundleInfo | undefined {
  const dir = bundleDir(data, key, bundle);
  if (!ownDirectory(projectDir(data, key)) || !ownDirectory(dir)) return undefined;
  let text: string;
  const file = join(dir, "config.json");
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    if (isErrno(err, "ELOOP"))
      throw new CmError("unsafe-data", `${file} is a symbolic link: cm did not make it`, {
        hint: `remove the bundle with cm delete ${JSON.stringify(key)} ${bundle}`,
      });
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.uid !== (process.getuid?.() ?? 0)) {
      throw new CmError("unsafe-data", `${file} is not a file of yours: cm did not write it`, {
        hint: `remove the bundle directory ${dir}`,
      });
    }
    text = readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
  let spec: OciSpec;
  try {
    spec = JSON.parse(text) as OciSpec;
  } catch {
    throw new CmError("bad-bundle", `${join(dir, "config.json")} is not valid JSON`, {
      hint: `remove the bundle with cm delete ${JSON.stringify(key)} ${bundle}, or rebuild it with cm create ${bundle} --force`,
    });
  }
  const a = spec.annotations ?? {};
  const size = Number(a[SIZE_ANNOTATION]);
  return {
    projectKey: key,
    projectName: a[ANNOTATION.projectName] ?? key,
    projectPath: a[ANNOTATION.projectPath] ?? "",
    bundle,
    dir,
    source: a[ANNOTATION.source] ?? "",
    created: a[ANNOTATION.created] ?? "",
    rootless: a[ANNOTATION.rootless] === "true",
    sizeBytes: Number.isFinite(size) && a[SIZE_ANNOTATION] !== undefined ? size : undefined,
    spec,
  };
}

function listDir(dir: string): string[] {
  return readDirOrEmpty(dir)
    .filter((n) => !n.startsWith("."))
    .sort();
}

/**
 * Names of the complete bundles of a project: real directories (not symlinks) holding a
 * config.json. A project directory that is a symlink or another user's is refused.
 */
export function bundleNames(data: string, key: string): string[] {
  const pdir = projectDir(data, key);
  if (!ownDirectory(pdir)) return [];
  return listDir(pdir).filter((n) => isBundleEntry(join(pdir, n)));
}

/** Entries of a project directory that are neither bundles nor cm's dot-names (a file, a symlink, a stray folder). */
export function strayEntries(data: string, key: string): string[] {
  const pdir = projectDir(data, key);
  if (!ownDirectory(pdir)) return [];
  return listDir(pdir).filter((n) => !isBundleEntry(join(pdir, n)));
}

function isBundleEntry(dir: string): boolean {
  try {
    return lstatSync(dir).isDirectory() && lstatSync(join(dir, "config.json")).isFile();
  } catch {
    return false;
  }
}

export function projectKeys(data: string): string[] {
  return listDir(data);
}

/**
 * The readable bundles. A bundle whose config.json is damaged is left out (and handed to
 * `onBroken`), so that one bad bundle does not stop list, delete or create for all the others.
 */
export function listBundles(data: string, key?: string, onBroken?: (err: CmError) => void): BundleInfo[] {
  const keys = key === undefined ? projectKeys(data) : [key];
  const out: BundleInfo[] = [];
  for (const k of keys) {
    let names: string[];
    try {
      names = bundleNames(data, k);
    } catch (err) {
      // a symlink or another user's directory in the data directory: reported, not followed
      if (!(err instanceof CmError)) throw err;
      onBroken?.(err);
      continue;
    }
    for (const b of names) {
      try {
        const info = readBundle(data, k, b);
        if (info) out.push(info);
      } catch (err) {
        if (!(err instanceof CmError)) throw err;
        onBroken?.(err);
      }
    }
  }
  return out;
}
