/**
 * Bundles on disk: <data>/<project key>/<bundle>/{rootfs/,config.json}. A bundle directory exists
 * only when complete: create builds it under a dot-name and renames it into place. Names starting
 * with "." inside a project directory are cm's own work in progress (creating, deleting, locks).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ANNOTATION, type OciSpec } from "../core/spec/index.ts";
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

/**
 * Takes bundle `bundle`'s lock in project directory `pdir` (`.<bundle>.lock`), held while it is
 * created or deleted; another cm holding it is a `bundle-busy` error.
 */
export function lockBundle(pdir: string, bundle: string): Lock {
  const lock = tryLock(join(pdir, `.${bundle}.lock`));
  if ("release" in lock) return lock;
  throw new CmError("bundle-busy", `bundle ${JSON.stringify(bundle)} is being created or deleted by another cm (pid ${lock.heldBy})`, {
    hint: "wait for it to finish, then try again",
  });
}

export function bundleDir(data: string, key: string, bundle: string): string {
  return join(data, key, bundle);
}

/** Reads a bundle's config.json; undefined when the bundle does not exist. */
export function readBundle(data: string, key: string, bundle: string): BundleInfo | undefined {
  const dir = bundleDir(data, key, bundle);
  let text: string;
  try {
    text = readFileSync(join(dir, "config.json"), "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) return undefined;
    throw err;
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

/** Names of the complete bundles of a project. */
export function bundleNames(data: string, key: string): string[] {
  return listDir(projectDir(data, key));
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
    for (const b of bundleNames(data, k)) {
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
