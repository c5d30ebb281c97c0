/**
 * A client for one repository on a registry speaking the OCI distribution API (v2):
 *   GET /v2/<name>/manifests/<tag|digest>   with an Accept header listing the manifest kinds cm reads
 *   GET /v2/<name>/blobs/<digest>           followed through redirects (blob storage), with Range to resume
 * Authentication is answered as the registry asks (see auth.ts): Basic with the stored credentials,
 * or a Bearer token for the repository's pull scope from the challenge's realm (asked with the
 * credentials as Basic auth, or with an identity token as an OAuth2 refresh-token POST). The
 * credentials may be given as a function: it is called (a credential helper run) only when the
 * registry first asks for authentication. Transient failures (network errors, 408, 429, 5xx) are
 * retried with exponential back-off. HTTPS always, except for loopback registries and those named
 * with --insecure-registry.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { CmError } from "../errors.ts";
import { basicAuth, type Challenge, parseChallenges, refreshTokenForm, tokenFrom, tokenUrl } from "./auth.ts";
import { sha256 } from "./blob-store.ts";
import type { Credentials } from "./credentials.ts";
import { MANIFEST_ACCEPT } from "./manifest.ts";
import { endpointHost, isLoopback, type Reference } from "./reference.ts";

export interface RegistryOptions {
  /** hosts (host or host:port) that may be spoken to over plain HTTP */
  insecure: readonly string[];
  /** the credentials, or how to get them when the registry first asks (a credential helper) */
  credentials: Credentials | undefined | (() => Promise<Credentials | undefined>);
  /** attempts for a transient failure (default 4) */
  attempts?: number;
  /** ask for push access too (cm export --to image:): the token scope is "pull,push" */
  push?: boolean;
  /** first back-off delay in ms (default 500; doubles each time) */
  backoffMs?: number;
  fetch?: typeof fetch;
}

const MAX_MANIFEST = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const USER_AGENT = "cm (+https://github.com/cm)";

function transient(status: number): boolean {
  return status === 408 || status === 429 || status === 500 || status === 502 || status === 503 || status === 504;
}

export function plainHttpAllowed(host: string, insecure: readonly string[]): boolean {
  const bare = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:[0-9]+$/, "");
  return isLoopback(host) || insecure.includes(host) || insecure.includes(bare);
}

/** One request: method (default GET), headers, a body (a Buffer, so that a retry can send it again). */
export interface RequestOptions {
  method?: string;
  accept?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** statuses returned to the caller rather than turned into errors (404 for a HEAD) */
  allow?: number[];
}

export class Registry {
  readonly ref: Reference;
  readonly base: string;
  private readonly opts: RegistryOptions;
  private readonly fetch: typeof fetch;
  private authorization: string | undefined;
  private readonly name: string;
  /** the credentials once known (for error messages) */
  private creds: Credentials | undefined;
  private credsPromise: Promise<Credentials | undefined> | undefined;

  constructor(ref: Reference, opts: RegistryOptions) {
    this.ref = ref;
    this.opts = opts;
    this.fetch = opts.fetch ?? globalThis.fetch;
    const host = endpointHost(ref.registry);
    this.base = `${plainHttpAllowed(ref.registry, opts.insecure) ? "http" : "https"}://${host}`;
    this.name = `${ref.registry}/${ref.repository}`;
  }

  /** The manifest (or index) named by a tag or digest: its bytes, media type and digest (checked when asked by digest). */
  async manifest(
    selector: string,
    accept: string = MANIFEST_ACCEPT,
  ): Promise<{ bytes: Buffer; contentType: string | undefined; digest: string }> {
    const what = `${this.name}:${selector}`;
    const res = await this.request(`/v2/${this.ref.repository}/manifests/${selector}`, { accept }, what);
    const length = Number(res.headers.get("content-length") ?? "0");
    if (length > MAX_MANIFEST) throw new CmError("bad-manifest", `the manifest of ${what} is too large (${length} bytes)`);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (bytes.length > MAX_MANIFEST) throw new CmError("bad-manifest", `the manifest of ${what} is too large`);
    const digest = sha256(bytes);
    if (selector.startsWith("sha256:") && digest !== selector) {
      throw new CmError("digest-mismatch", `the registry answered ${what} with a manifest whose digest is ${digest}`, {
        hint: "the registry sent different content than asked for; nothing was created",
      });
    }
    return { bytes, contentType: res.headers.get("content-type") ?? undefined, digest };
  }

  /** Opens a blob's body from `offset`; redirects to blob storage are followed. */
  async blob(
    digest: string,
    offset: number,
    what: string,
  ): Promise<{ status: number; body: AsyncIterable<Uint8Array>; rangeStart?: number | undefined }> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.request(`/v2/${this.ref.repository}/blobs/${digest}`, { headers }, what);
    if (!res.body) throw new Error("empty response");
    let rangeStart: number | undefined;
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "");
      rangeStart = m ? Number(m[1]) : undefined;
    }
    return { status: res.status, body: res.body as unknown as AsyncIterable<Uint8Array>, rangeStart };
  }

  /** One request with auth, retries and redirects; a non-2xx answer (other than `allow`ed ones) becomes a CmError. */
  async request(path: string, init: RequestOptions, what: string): Promise<Response> {
    let triedAuth = false;
    const attempts = this.opts.attempts ?? 4;
    const backoff = this.opts.backoffMs ?? 500;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.follow(new URL(path, this.base), init);
      } catch (err) {
        if (err instanceof CmError) throw err;
        if (attempt >= attempts) throw this.unreachable(err);
        await sleep(backoff * 2 ** (attempt - 1));
        continue;
      }
      if (res.status === 401 && !triedAuth) {
        triedAuth = true;
        await res.body?.cancel();
        await this.authenticate(res.headers.get("www-authenticate"), what);
        attempt--;
        continue;
      }
      if (transient(res.status) && attempt < attempts) {
        await res.body?.cancel();
        const retryAfter = Number(res.headers.get("retry-after"));
        await sleep(Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter, 10) * 1000 : backoff * 2 ** (attempt - 1));
        continue;
      }
      if (res.ok || init.allow?.includes(res.status)) return res;
      await res.body?.cancel();
      throw this.failure(res.status, what);
    }
  }

  /** fetch with manual redirects: Authorization only goes to the registry's own origin, never downgraded to plain HTTP. */
  private async follow(start: URL, init: RequestOptions): Promise<Response> {
    let url = start;
    for (let hops = 0; ; hops++) {
      const headers: Record<string, string> = { "user-agent": USER_AGENT, ...init.headers };
      if (init.accept) headers.accept = init.accept;
      if (this.authorization && url.origin === new URL(this.base).origin) headers.authorization = this.authorization;
      const res = await this.fetch(url, {
        headers,
        redirect: "manual",
        method: init.method ?? "GET",
        ...(init.body ? { body: new Uint8Array(init.body.buffer, init.body.byteOffset, init.body.length) } : {}),
      });
      if (res.status < 300 || res.status >= 400 || res.status === 304) return res;
      const location = res.headers.get("location");
      await res.body?.cancel();
      if (!location) return res;
      if (hops >= MAX_REDIRECTS) throw new CmError("registry-error", `${this.name}: too many redirects`);
      const next = new URL(location, url);
      if (next.protocol !== "https:" && !(next.protocol === "http:" && plainHttpAllowed(next.host, this.opts.insecure))) {
        throw new CmError("insecure-redirect", `${this.name}: the registry redirected to ${next.origin}, which is not HTTPS`, {
          hint: `allow it explicitly with --insecure-registry ${next.host}`,
        });
      }
      url = next;
    }
  }

  /** The credentials, resolved once (a helper runs at most once per pull). */
  private credentials(): Promise<Credentials | undefined> {
    const given = this.opts.credentials;
    this.credsPromise ??= (typeof given === "function" ? given() : Promise.resolve(given)).then((c) => {
      this.creds = c;
      return c;
    });
    return this.credsPromise;
  }

  private async authenticate(header: string | null, what: string): Promise<void> {
    const challenges = parseChallenges(header ?? "");
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    const creds = await this.credentials();
    if (bearer) {
      this.authorization = `Bearer ${await this.token(bearer, what)}`;
      return;
    }
    if (challenges.some((c) => c.scheme === "basic")) {
      if (!creds) throw this.failure(401, what);
      if (!creds.username) {
        throw new CmError(
          "unauthorized",
          `${what}: the registry asks for a user name and password, but the credentials from ${creds.source} are an identity token`,
          { hint: "log in to this registry with a user name and password (docker login / podman login)" },
        );
      }
      this.authorization = basicAuth(creds.username, creds.password);
      return;
    }
    throw this.failure(401, what);
  }

  private async token(challenge: Challenge, what: string): Promise<string> {
    let url: URL;
    try {
      url = tokenUrl(challenge, [`repository:${this.ref.repository}:${this.opts.push ? "pull,push" : "pull"}`]);
    } catch {
      throw new CmError(
        "registry-error",
        `${this.name}: the registry's token realm ${JSON.stringify(challenge.params.realm)} is not a URL`,
      );
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && plainHttpAllowed(url.host, this.opts.insecure))) {
      throw new CmError("insecure-redirect", `${this.name}: the token service ${url.origin} is not HTTPS`, {
        hint: `allow it explicitly with --insecure-registry ${url.host}`,
      });
    }
    const creds = this.creds;
    const headers: Record<string, string> = { "user-agent": USER_AGENT };
    let init: RequestInit = { headers };
    if (creds?.identityToken) {
      // OAuth2: the refresh token is POSTed to the realm itself, service and scope in the form.
      url = new URL(challenge.params.realm as string);
      const form = refreshTokenForm(
        challenge,
        [`repository:${this.ref.repository}:${this.opts.push ? "pull,push" : "pull"}`],
        creds.identityToken,
      );
      headers["content-type"] = "application/x-www-form-urlencoded";
      init = { method: "POST", headers, body: form.toString() };
    } else if (creds) {
      headers.authorization = basicAuth(creds.username, creds.password);
    }
    const attempts = this.opts.attempts ?? 4;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.fetch(url, init);
      } catch (err) {
        if (attempt >= attempts) throw this.unreachable(err, url.host);
        await sleep((this.opts.backoffMs ?? 500) * 2 ** (attempt - 1));
        continue;
      }
      if (transient(res.status) && attempt < attempts) {
        await res.body?.cancel();
        await sleep((this.opts.backoffMs ?? 500) * 2 ** (attempt - 1));
        continue;
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw this.failure(res.status === 401 || res.status === 403 ? 401 : res.status, what);
      }
      const token = tokenFrom(await res.json().catch(() => undefined));
      if (!token) throw new CmError("registry-error", `${this.name}: the token service gave no token`);
      return token;
    }
  }

  private unreachable(err: unknown, host = new URL(this.base).host): CmError {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (err as Error).message;
    return new CmError("registry-unreachable", `cannot reach the registry ${host}: ${why}`, {
      hint:
        this.base.startsWith("https:") && !isLoopback(this.ref.registry)
          ? "check the name and the network; a registry without TLS needs --insecure-registry HOST"
          : "check the name, the port and that the registry is running",
      cause: err,
    });
  }

  private failure(status: number, what: string): CmError {
    if (status === 401 || status === 403) {
      const creds = this.creds;
      const who = creds ? (creds.username ? `user ${creds.username}` : "an identity token") : "";
      return new CmError("unauthorized", `${what}: access denied by the registry${creds ? ` for ${who} (from ${creds.source})` : ""}`, {
        hint: creds
          ? `check the credentials (podman login / docker login) and that the user may ${this.opts.push ? "push to" : "pull"} this repository`
          : this.opts.push
            ? "log in to the registry (podman login / docker login, or set REGISTRY_AUTH_FILE) and check the repository name"
            : "the image is private or does not exist: log in (podman login / docker login, or set REGISTRY_AUTH_FILE) and check the name",
      });
    }
    if (status === 404) {
      return new CmError("image-not-found", `${what}: not found in the registry`, { hint: "check the repository name and the tag" });
    }
    return new CmError("registry-error", `${what}: the registry answered HTTP ${status}`, { hint: "try again later" });
  }
}
