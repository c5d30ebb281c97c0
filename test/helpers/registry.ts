/**
 * Registries for the image tests, all on 127.0.0.1 only, on free ports, killed at the end:
 *   - startRegistry(): Debian's docker-registry (CNCF distribution v2), plain or with htpasswd
 *     basic auth (htpasswd -B from apache2-utils), its config and storage in a temp directory;
 *   - startTokenProxy(upstream): a small Node server in front of a plain registry that implements
 *     the bearer-token side of distribution's token auth (its own /token endpoint on loopback, the
 *     WWW-Authenticate challenge, scoped tokens, optional credentials), redirects blob downloads
 *     to a separate "blob storage" origin (which refuses requests that carry the registry's
 *     Authorization), and injects faults on demand (transient 503s, wrong bytes, truncated
 *     bodies); with `refreshToken`, its /token also takes distribution's OAuth2 POST
 *     (grant_type=refresh_token, for identity tokens). A proxy rather than distribution's own `auth: token` (which needs a signing
 *     certificate and a JWT issuer) keeps the token side small and lets the tests break things.
 *   - push(): skopeo copy from an OCI layout; pushRaw(): the distribution API by hand, for
 *     manifests skopeo would not write (unknown media types).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Registry {
  /** host:port */
  host: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

async function waitUp(url: string, child?: ChildProcess): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child && child.exitCode !== null) throw new Error(`the registry exited with status ${child.exitCode}`);
    try {
      const r = await fetch(url);
      await r.body?.cancel();
      if (r.status === 200 || r.status === 401) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} did not come up`);
}

export async function startRegistry(opts: { htpasswd?: { user: string; password: string } } = {}): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), "cm-registry-"));
  const port = await freePort();
  let auth = "";
  if (opts.htpasswd) {
    const line = execFileSync("htpasswd", ["-nbB", opts.htpasswd.user, opts.htpasswd.password], { encoding: "utf8" }).trim();
    writeFileSync(join(dir, "htpasswd"), `${line}\n`);
    auth = `auth:\n  htpasswd:\n    realm: cm-test\n    path: ${join(dir, "htpasswd")}\n`;
  }
  mkdirSync(join(dir, "storage"));
  writeFileSync(
    join(dir, "config.yml"),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, "storage")}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(16).toString("hex")}\n${auth}`,
  );
  const child = spawn("docker-registry", ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  try {
    await waitUp(`http://127.0.0.1:${port}/v2/`, child);
  } catch (err) {
    child.kill("SIGKILL");
    throw new Error(`${(err as Error).message}: ${log}`);
  }
  return {
    host: `127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** skopeo copy of a tag (or --all for an index) from an OCI layout into a registry. */
export function push(layoutDir: string, tag: string, dest: string, opts: { creds?: string; all?: boolean } = {}): void {
  const args = ["copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"];
  if (opts.all) args.push("--all");
  if (opts.creds) args.push("--dest-creds", opts.creds);
  args.push(`oci:${layoutDir}:${tag}`, `docker://${dest}`);
  execFileSync("skopeo", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Pushes blobs and a manifest through the distribution API directly (monolithic uploads). */
export async function pushRaw(
  host: string,
  repo: string,
  ref: string,
  manifest: Buffer,
  mediaType: string,
  blobs: Buffer[],
): Promise<void> {
  const { digestOf } = await import("./oci.ts");
  for (const b of blobs) {
    const start = await fetch(`http://${host}/v2/${repo}/blobs/uploads/`, { method: "POST" });
    await start.body?.cancel();
    const loc = new URL(start.headers.get("location") as string, `http://${host}`);
    loc.searchParams.set("digest", digestOf(b));
    const put = await fetch(loc, { method: "PUT", body: b, headers: { "content-type": "application/octet-stream" } });
    await put.body?.cancel();
    if (put.status !== 201) throw new Error(`blob upload: HTTP ${put.status}`);
  }
  const r = await fetch(`http://${host}/v2/${repo}/manifests/${ref}`, {
    method: "PUT",
    body: manifest,
    headers: { "content-type": mediaType },
  });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`manifest upload: HTTP ${r.status} ${text}`);
}

/** Pushes a tagged image or index of an OCI layout by hand (any media types), children first. */
export async function pushLayout(host: string, layoutDir: string, tag: string, repo: string, ref: string): Promise<void> {
  const { readFileSync } = await import("node:fs");
  const blob = (digest: string) => readFileSync(join(layoutDir, "blobs", "sha256", digest.slice(7)));
  const index = JSON.parse(readFileSync(join(layoutDir, "index.json"), "utf8")) as {
    manifests: { digest: string; mediaType: string; annotations?: Record<string, string> }[];
  };
  const top = index.manifests.find((m) => m.annotations?.["org.opencontainers.image.ref.name"] === tag);
  if (!top) throw new Error(`no ${tag} in ${layoutDir}`);
  const up = async (digest: string, mediaType: string, as: string): Promise<void> => {
    const doc = JSON.parse(blob(digest).toString()) as {
      manifests?: { digest: string; mediaType: string }[];
      config?: { digest: string };
      layers?: { digest: string }[];
    };
    for (const m of doc.manifests ?? []) await up(m.digest, m.mediaType, m.digest);
    const blobs = doc.config ? [doc.config, ...(doc.layers ?? [])].map((d) => blob(d.digest)) : [];
    await pushRaw(host, repo, as, blob(digest), mediaType, blobs);
  };
  await up(top.digest, top.mediaType, ref);
}

export interface Faults {
  /** answer this many manifest/blob requests with 503 first */
  unavailable: number;
  /** blob digest (hex) -> serve it with one byte changed */
  corrupt: Set<string>;
  /** blob digest (hex) -> cut the body in half (every time) */
  truncate: Set<string>;
  /** blob digest (hex) -> cut the body in half once, then serve (Range requests too) */
  truncateOnce: Set<string>;
  /** blob digest (hex) -> serve it slowly (16 KiB every 50 ms) */
  slow: Set<string>;
}

export interface TokenProxy extends Registry {
  faults: Faults;
  /** requests seen: "GET /v2/...", with "range" when one was sent */
  log: string[];
  /** tokens issued, with the scope asked and whether credentials came with the request ("<refresh-token>": the OAuth2 grant) */
  tokens: { scope: string; user: string | undefined }[];
}

function collect(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    req.on("data", (d: Buffer) => parts.push(d));
    req.on("end", () => resolve(Buffer.concat(parts)));
  });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/**
 * A bearer-token registry in front of `upstream` (host:port of a plain registry). With `creds`, a
 * token is issued only to that user; without, anonymously. With `refreshToken`, a POST to /token
 * with grant_type=refresh_token and that token (and service, client_id) is answered with an
 * access_token, as distribution's OAuth2 token endpoint does.
 */
export async function startTokenProxy(
  upstream: string,
  opts: { creds?: { user: string; password: string }; refreshToken?: string } = {},
): Promise<TokenProxy> {
  const tokens = new Map<string, string>(); // token -> scope
  const issued: TokenProxy["tokens"] = [];
  const log: string[] = [];
  const faults: Faults = { unavailable: 0, corrupt: new Set(), truncate: new Set(), truncateOnce: new Set(), slow: new Set() };
  const storageKeys = new Map<string, string>(); // one-time key -> digest path
  let realm = "";
  let storageOrigin = "";

  const forward = (
    path: string,
    headers: Record<string, string>,
    res: ServerResponse,
    mutate?: (status: number, body: Buffer) => Buffer | "cut" | "slow",
  ) => {
    const up = request(`http://${upstream}${path}`, { headers }, (ur) => {
      const outHeaders: Record<string, string> = {};
      for (const h of ["content-type", "docker-content-digest", "content-range", "accept-ranges", "content-length"]) {
        const v = ur.headers[h];
        if (typeof v === "string") outHeaders[h] = v;
      }
      if (!mutate || (ur.statusCode !== 200 && ur.statusCode !== 206)) {
        res.writeHead(ur.statusCode ?? 502, outHeaders);
        ur.pipe(res);
        return;
      }
      collect(ur).then((body) => {
        const out = mutate(ur.statusCode ?? 200, body);
        if (out === "slow") {
          res.writeHead(ur.statusCode ?? 200, { ...outHeaders, "content-length": String(body.length) });
          let at = 0;
          const tick = () => {
            if (res.destroyed) return;
            res.write(body.subarray(at, at + 16384));
            at += 16384;
            if (at >= body.length) res.end();
            else setTimeout(tick, 50);
          };
          tick();
          return;
        }
        if (out === "cut") {
          res.writeHead(ur.statusCode ?? 200, outHeaders);
          // the connection drops mid-body, after the first half has gone out
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.destroy(), 100));
          return;
        }
        res.writeHead(ur.statusCode ?? 200, { ...outHeaders, "content-length": String(out.length) });
        res.end(out);
      });
    });
    up.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    up.end();
  };

  const storage = createServer((req, res) => {
    if (req.headers.authorization) {
      res.writeHead(400);
      res.end("blob storage does not take the registry's credentials");
      return;
    }
    const key = new URL(req.url ?? "/", "http://x").searchParams.get("key") ?? "";
    const path = storageKeys.get(key);
    if (!path) {
      res.writeHead(403);
      res.end();
      return;
    }
    const digest = path.slice(path.lastIndexOf("/") + 1).replace(/^sha256:/, "");
    log.push(`STORAGE ${digest}${req.headers.range ? ` range ${req.headers.range}` : ""}`);
    const headers: Record<string, string> = {};
    if (req.headers.range) headers.range = req.headers.range;
    if (faults.corrupt.has(digest))
      return forward(path, headers, res, (_s, b) => {
        const c = Buffer.from(b);
        c[c.length >> 1] = (c[c.length >> 1] as number) ^ 0xff;
        return c;
      });
    if (faults.truncate.has(digest)) return forward(path, headers, res, () => "cut");
    if (faults.slow.has(digest)) return forward(path, headers, res, () => "slow");
    if (faults.truncateOnce.has(digest) && !req.headers.range) {
      faults.truncateOnce.delete(digest);
      return forward(path, headers, res, () => "cut");
    }
    forward(path, headers, res);
  });
  storageOrigin = `http://127.0.0.1:${await listen(storage)}`;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/token" && req.method === "POST") {
      collect(req).then((body) => {
        const form = new URLSearchParams(body.toString());
        const ok =
          opts.refreshToken !== undefined &&
          req.headers["content-type"] === "application/x-www-form-urlencoded" &&
          form.get("grant_type") === "refresh_token" &&
          form.get("refresh_token") === opts.refreshToken &&
          form.get("service") === "cm-test-registry" &&
          !!form.get("client_id");
        if (!ok) {
          res.writeHead(opts.refreshToken === undefined ? 404 : 401);
          res.end();
          return;
        }
        const scope = form.get("scope") ?? "";
        const token = randomBytes(16).toString("hex");
        tokens.set(token, scope);
        issued.push({ scope, user: "<refresh-token>" });
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ access_token: token, expires_in: 300, refresh_token: opts.refreshToken }));
      });
      return;
    }
    if (url.pathname === "/token") {
      const scope = url.searchParams.getAll("scope").join(" ");
      let user: string | undefined;
      const auth = req.headers.authorization;
      if (auth?.startsWith("Basic ")) {
        const [u, p] = Buffer.from(auth.slice(6), "base64").toString().split(":");
        if (!opts.creds || u !== opts.creds.user || p !== opts.creds.password) {
          res.writeHead(401);
          res.end();
          return;
        }
        user = u;
      } else if (opts.creds) {
        res.writeHead(401);
        res.end();
        return;
      }
      const token = randomBytes(16).toString("hex");
      tokens.set(token, scope);
      issued.push({ scope, user });
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    log.push(`${req.method} ${url.pathname}${req.headers.range ? ` range ${req.headers.range}` : ""}`);
    if (url.pathname === "/v2/" || url.pathname === "/v2") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
      return;
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) {
      res.writeHead(404);
      res.end();
      return;
    }
    const [, repo, kind, ref] = m as unknown as [string, string, string, string];
    const scope = `repository:${repo}:pull`;
    const bearer = req.headers.authorization?.startsWith("Bearer ") ? req.headers.authorization.slice(7) : "";
    if (!tokens.get(bearer)?.split(" ").includes(scope)) {
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="cm-test-registry",scope="${scope}"` });
      res.end();
      return;
    }
    if (faults.unavailable > 0) {
      faults.unavailable--;
      res.writeHead(503);
      res.end();
      return;
    }
    const path = `/v2/${repo}/${kind}/${ref}`;
    if (kind === "blobs") {
      const key = randomBytes(8).toString("hex");
      storageKeys.set(key, path);
      res.writeHead(307, { location: `${storageOrigin}/storage/${ref}?key=${key}` });
      res.end();
      return;
    }
    const headers: Record<string, string> = {};
    if (req.headers.accept) headers.accept = req.headers.accept;
    forward(path, headers, res);
  });
  const port = await listen(server);
  realm = `http://127.0.0.1:${port}/token`;
  return {
    host: `127.0.0.1:${port}`,
    faults,
    log,
    tokens: issued,
    stop: async () => {
      server.closeAllConnections();
      storage.closeAllConnections();
      await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => storage.close(r))]);
    },
  };
}

export interface CountingProxy extends Registry {
  /** requests seen, in order: "METHOD /path" (query left out) */
  log: string[];
}

/**
 * A plain pass-through in front of `upstream` (host:port of a registry) on 127.0.0.1 that records
 * every request's method and path, so a test can count what a client sent (e.g. that a second push
 * uploads no layer). Methods, headers and bodies are forwarded as they are.
 */
export async function startCountingProxy(upstream: string): Promise<CountingProxy> {
  const log: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    log.push(`${req.method} ${url.pathname}`);
    const headers = { ...req.headers, host: upstream };
    const up = request(`http://${upstream}${req.url}`, { method: req.method, headers }, (ur) => {
      const out = { ...ur.headers };
      // Locations point at the upstream: rewrite them so that the client keeps talking to the proxy.
      if (typeof out.location === "string") out.location = out.location.replace(`http://${upstream}`, `http://${host}`);
      res.writeHead(ur.statusCode ?? 502, out);
      ur.pipe(res);
    });
    up.on("error", () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    log,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
}
