/**
 * Registry credentials from the files Docker, Podman and skopeo write, first match wins:
 *   $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json
 *   (or $DOCKER_CONFIG/config.json).
 * Each holds {"auths": {"<registry>[/<namespace>]": {"auth": base64("user:password")}}}. A key may
 * also be a URL ("https://index.docker.io/v1/"). The most specific key for the repository wins.
 * Credential helpers (credHelpers, credsStore) would mean running other programs: not supported.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CmError, isErrno } from "../errors.ts";

export interface Credentials {
  username: string;
  password: string;
  /** where they came from, for error messages */
  source: string;
}

export interface AuthFile {
  path: string;
  text: string;
}

/** The auth files to consult, in order, from the environment (pure). */
export function authFilePaths(env: Record<string, string | undefined>, home: string): string[] {
  const paths: string[] = [];
  if (env.REGISTRY_AUTH_FILE) paths.push(env.REGISTRY_AUTH_FILE);
  if (env.XDG_RUNTIME_DIR?.startsWith("/")) paths.push(join(env.XDG_RUNTIME_DIR, "containers/auth.json"));
  paths.push(join(env.DOCKER_CONFIG?.startsWith("/") ? env.DOCKER_CONFIG : join(home, ".docker"), "config.json"));
  return paths;
}

/** "https://index.docker.io/v1/" -> "docker.io"; "quay.io/org" stays. */
export function normaliseKey(key: string): string {
  let k = key.replace(/^[a-z]+:\/\//, "").replace(/\/+$/, "");
  k = k.replace(/\/v[12]$/, "");
  if (k === "index.docker.io" || k === "registry-1.docker.io") return "docker.io";
  if (k.startsWith("index.docker.io/")) return `docker.io/${k.slice("index.docker.io/".length)}`;
  return k;
}

/** The credentials for registry/repository from the given files (pure). */
export function findCredentials(files: AuthFile[], registry: string, repository: string): Credentials | undefined {
  const full = `${registry}/${repository}`;
  for (const file of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(file.text);
    } catch {
      throw new CmError("bad-auth-file", `${file.path} is not valid JSON`, {
        hint: "fix or remove the file (podman login / docker login write it)",
      });
    }
    const auths = (doc as { auths?: unknown } | null)?.auths;
    if (typeof auths !== "object" || auths === null) continue;
    let best: { len: number; entry: unknown } | undefined;
    for (const [key, entry] of Object.entries(auths)) {
      const k = normaliseKey(key);
      if (k === registry || full === k || full.startsWith(`${k}/`)) {
        if (!best || k.length > best.len) best = { len: k.length, entry };
      }
    }
    if (!best) continue;
    const auth = (best.entry as { auth?: unknown } | null)?.auth;
    if (typeof auth !== "string" || auth === "") continue;
    const decoded = Buffer.from(auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0)
      throw new CmError("bad-auth-file", `the credentials for ${registry} in ${file.path} are malformed`, { hint: "log in again" });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: file.path };
  }
  return undefined;
}

/** Reads the auth files that exist and finds the credentials for registry/repository. */
export function loadCredentials(
  env: Record<string, string | undefined>,
  home: string,
  registry: string,
  repository: string,
): Credentials | undefined {
  const files: AuthFile[] = [];
  for (const path of authFilePaths(env, home)) {
    try {
      files.push({ path, text: readFileSync(path, "utf8") });
    } catch (err) {
      if (isErrno(err, "ENOENT") || isErrno(err, "ENOTDIR")) {
        if (path === env.REGISTRY_AUTH_FILE)
          throw new CmError("bad-auth-file", `REGISTRY_AUTH_FILE ${path} does not exist`, { hint: "point it at an auth.json or unset it" });
        continue;
      }
      if (isErrno(err, "EACCES")) continue;
      throw err;
    }
  }
  return findCredentials(files, registry, repository);
}
