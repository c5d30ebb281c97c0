/**
 * Registry credentials from the files Docker, Podman and skopeo write, in this order:
 *   $REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json, ~/.docker/config.json
 *   (or $DOCKER_CONFIG/config.json).
 * Within one file, as Docker's CLI decides (configfile.GetCredentialsStore):
 *   1. "credHelpers": {"<registry>": "NAME"}: that registry's credentials come from the credential
 *      helper docker-credential-NAME (credential-helper.ts runs it);
 *   2. else "credsStore": "NAME": every registry's credentials come from that helper;
 *   3. else "auths": {"<registry>[/<namespace>]": {"auth": base64("user:password")}} (or an
 *      "identitytoken"); a key may be a URL ("https://index.docker.io/v1/"); the most specific key
 *      for the repository wins (containers-auth.json's namespaces).
 * Across files, the first file that yields credentials wins, as containers/image searches them: a
 * helper that answers "credentials not found" passes the search on to the next file, and if none
 * yields any the pull is anonymous. A file's helper decides for that file: its "auths" entries are
 * not consulted then (Docker keeps only placeholders there).
 * The files are read and the order decided up front (pure: `credentialPlan`); a helper runs only
 * when the registry asks for credentials (a 401), at most once per pull (`resolveCredentials`).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CmError, isErrno } from "../errors.ts";

export interface Credentials {
  /** empty for an identity token without a user name */
  username: string;
  password: string;
  /** an OAuth2 refresh token (a helper's "<token>" answer, an auths entry's "identitytoken"), exchanged for a bearer token */
  identityToken?: string | undefined;
  /** where they came from, for error messages (a file, or "docker-credential-NAME (credHelpers in FILE)") */
  source: string;
}

export interface AuthFile {
  path: string;
  text: string;
}

/** One place credentials may come from, in the order they are tried. */
export type Candidate =
  | { kind: "stored"; credentials: Credentials }
  | {
      kind: "helper";
      /** NAME of docker-credential-NAME, validated */
      helper: string;
      /** what the helper is asked for (Docker's server address) */
      server: string;
      /** "credHelpers in FILE" or "credsStore in FILE" */
      setting: string;
      registry: string;
    };

/** Docker Hub's server address in Docker's credential stores (registry.IndexServer). */
export const DOCKER_HUB_SERVER = "https://index.docker.io/v1/";

/** The server address a credential helper is asked for, as Docker's CLI asks: the registry host, Docker Hub's v1 URL. */
export function helperServer(registry: string): string {
  return registry === "docker.io" ? DOCKER_HUB_SERVER : registry;
}

const HELPER_NAME = /^[A-Za-z0-9._-]+$/;

/** A helper name is the suffix of a program on PATH, never a path. */
export function checkHelperName(name: unknown, setting: string): string {
  if (typeof name !== "string" || !HELPER_NAME.test(name) || name === "." || name === "..") {
    throw new CmError("bad-auth-file", `${setting} names the credential helper ${JSON.stringify(name)}, which is not a helper name`, {
      hint: "a helper is named by the NAME of its program docker-credential-NAME: letters, digits, '.', '_' and '-' only",
    });
  }
  return name;
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

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The stored credentials of an auths entry, or undefined when it holds none (a helper's placeholder). */
function fromEntry(entry: unknown, registry: string, path: string): Credentials | undefined {
  if (!isObject(entry)) return undefined;
  const auth = typeof entry.auth === "string" ? entry.auth : "";
  const identityToken = typeof entry.identitytoken === "string" && entry.identitytoken !== "" ? entry.identitytoken : undefined;
  if (auth === "") return identityToken ? { username: "", password: "", identityToken, source: path } : undefined;
  const decoded = Buffer.from(auth, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw new CmError("bad-auth-file", `the credentials for ${registry} in ${path} are malformed`, { hint: "log in again" });
  const found: Credentials = { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), source: path };
  if (identityToken) found.identityToken = identityToken;
  return found;
}

/**
 * Where the credentials for registry/repository may come from, in order (pure): helpers to ask,
 * ending at the first stored credentials. Empty: anonymous.
 */
export function credentialPlan(files: AuthFile[], registry: string, repository: string): Candidate[] {
  const full = `${registry}/${repository}`;
  const plan: Candidate[] = [];
  for (const file of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(file.text);
    } catch {
      throw new CmError("bad-auth-file", `${file.path} is not valid JSON`, {
        hint: "fix or remove the file (podman login / docker login write it)",
      });
    }
    if (!isObject(doc)) continue;
    // 1. a helper for this registry (keys are registries: "quay.io", "https://index.docker.io/v1/")
    if (isObject(doc.credHelpers)) {
      const key = Object.keys(doc.credHelpers).find((k) => normaliseKey(k) === registry);
      if (key !== undefined) {
        const setting = `credHelpers in ${file.path}`;
        const helper = checkHelperName(doc.credHelpers[key], `${setting} (${key})`);
        plan.push({ kind: "helper", helper, server: helperServer(registry), setting, registry });
        continue;
      }
    }
    // 2. the file's default helper
    if (doc.credsStore !== undefined && doc.credsStore !== "") {
      const setting = `credsStore in ${file.path}`;
      plan.push({ kind: "helper", helper: checkHelperName(doc.credsStore, setting), server: helperServer(registry), setting, registry });
      continue;
    }
    // 3. stored credentials, the most specific key first
    if (!isObject(doc.auths)) continue;
    let best: { len: number; entry: unknown } | undefined;
    for (const [key, entry] of Object.entries(doc.auths)) {
      const k = normaliseKey(key);
      if (k === registry || full === k || full.startsWith(`${k}/`)) {
        if (!best || k.length > best.len) best = { len: k.length, entry };
      }
    }
    const credentials = best && fromEntry(best.entry, registry, file.path);
    if (credentials) {
      plan.push({ kind: "stored", credentials });
      return plan;
    }
  }
  return plan;
}

/** The stored credentials for registry/repository from the given files, ignoring helpers (pure). */
export function findCredentials(files: AuthFile[], registry: string, repository: string): Credentials | undefined {
  const last = credentialPlan(files, registry, repository).at(-1);
  return last?.kind === "stored" ? last.credentials : undefined;
}

/** Reads the auth files that exist and decides where the credentials for registry/repository come from. */
export function loadCredentialPlan(
  env: Record<string, string | undefined>,
  home: string,
  registry: string,
  repository: string,
): Candidate[] {
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
  return credentialPlan(files, registry, repository);
}

/**
 * Follows a plan: stored credentials are used as they are; a helper is run (its module loaded only
 * then) and its "not found" passes on to the next candidate. Undefined: anonymous.
 */
export async function resolveCredentials(plan: Candidate[], env: Record<string, string | undefined>): Promise<Credentials | undefined> {
  for (const c of plan) {
    if (c.kind === "stored") return c.credentials;
    const { runCredentialHelper } = await import("./credential-helper.ts");
    const found = await runCredentialHelper(c, env);
    if (found) return found;
  }
  return undefined;
}
