/**
 * cm's egress proxy for `--allow-host`: an HTTP forward proxy. HTTPS (and anything else tunnelled)
 * as CONNECT host:port, with no TLS interception; plain HTTP as absolute-URI requests, forwarded.
 * For every connection, in this order:
 *   1. the requested name and port must match an allow pattern (core/run/allowhost.ts);
 *   2. the name is resolved here, on the host (never inside the container);
 *   3. each address must be public, or allowed explicitly as an address (no DNS trick reaches
 *      the host's loopback or the private network);
 *   4. cm connects to that checked address (not to the name again: no second resolution to race).
 * Refused: 403 to the client and one line to `report` ("blocked CONNECT evil.example:443").
 * With a host proxy (the host's https_proxy/http_proxy, not excluded by its no_proxy), allowed
 * traffic goes on through it instead of step 2-4: the host proxy resolves and connects.
 *
 * Written here rather than taken from npm: the maintained forward proxies (`proxy`, `proxy-chain`,
 * `http-proxy`) connect by name themselves, so the check between resolution and connection (step
 * 3, pinned to the address checked) cannot be put in them; the whole proxy is ~200 lines of
 * node:http and node:net.
 */
import { lookup } from "node:dns/promises";
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import { connect, isIP, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { addressAllowed, type HostPattern, matchHost, normalizeHost } from "../core/run/allowhost.ts";
import { bypassesProxy, hostProxyEnv } from "../core/run/proxy.ts";

export interface UpstreamProxy {
  host: string;
  port: number;
  /** "Basic ..." when the proxy URL had credentials */
  authorization?: string | undefined;
}

export interface ProxyOptions {
  allow: readonly HostPattern[];
  /** one line per refused connection, without the "cm: " prefix */
  report: (line: string) => void;
  /** name -> addresses; default: the host's resolver (getaddrinfo, so /etc/hosts counts) */
  resolve?: ((host: string) => Promise<string[]>) | undefined;
  /** the host's proxy for https (CONNECT) and http, when it has one */
  upstream?: { https?: UpstreamProxy | undefined; http?: UpstreamProxy | undefined; noProxy: string[] } | undefined;
}

export interface ProxyStats {
  allowed: number;
  blocked: number;
}

export interface EgressProxy {
  server: Server;
  stats: ProxyStats;
  /** closes the server and every open connection */
  close(): void;
}

const CONNECT_TIMEOUT_MS = 30_000;

/** A proxy server not yet listening: feed it sockets with `server.emit("connection", socket)` or listen. */
export function createEgressProxy(opts: ProxyOptions): EgressProxy {
  const stats: ProxyStats = { allowed: 0, blocked: 0 };
  const open = new Set<Duplex>();
  const track = (s: Duplex) => {
    open.add(s);
    s.on("close", () => open.delete(s));
  };
  const p: Proxy = { opts, resolve: opts.resolve ?? defaultResolve, stats, track };
  const server = createServer({ requireHostHeader: false });
  server.on("connection", track);
  server.on("connect", (req: IncomingMessage, client: Duplex, head: Buffer) => onConnect(p, req, client, head));
  const taken = new WeakSet<Duplex>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => onRequest(p, taken, req, res));
  server.on("clientError", (_err, socket) => socket.destroy());
  return {
    server,
    stats,
    close() {
      server.close();
      for (const s of open) s.destroy();
    },
  };
}

/** What the handlers of one proxy share. */
interface Proxy {
  opts: ProxyOptions;
  resolve: NonNullable<ProxyOptions["resolve"]>;
  stats: ProxyStats;
  /** a socket to destroy when the proxy closes */
  track(s: Duplex): void;
}

/** The checked destination, or the reason it is refused. */
async function decide(
  p: Proxy,
  host: string,
  port: number,
): Promise<{ addresses: string[] } | { via: UpstreamProxy } | { refused: string; why?: string }> {
  const h = normalizeHost(host);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { refused: "bad port" };
  if (!matchHost(p.opts.allow, h, port)) return { refused: "not allowed" };
  if (isIP(h)) return { addresses: [h] }; // an address pattern matched it explicitly
  const up = upstreamFor(p.opts.upstream, h, port);
  if (up) return { via: up };
  let addresses: string[];
  try {
    addresses = await p.resolve(h);
  } catch {
    return { refused: "does not resolve" };
  }
  const ok = addresses.filter((a) => addressAllowed(p.opts.allow, a, port));
  if (ok.length === 0) {
    const a = addresses[0];
    if (a === undefined) return { refused: "does not resolve" };
    const shown = isIP(a) === 6 ? `[${a}]:${port}` : `${a}:${port}`;
    return { refused: "internal", why: `resolves to ${a}, an internal address: allow it with --allow-host ${shown}` };
  }
  return { addresses: ok };
}

function block(p: Proxy, what: string, client: Duplex | ServerResponse, why?: string) {
  p.stats.blocked++;
  p.opts.report(`blocked ${what}${why ? ` (${why})` : ""}`);
  if ("writeHead" in client) {
    client.writeHead(403, { "content-type": "text/plain", connection: "close" });
    client.end(`cm: ${what} is not allowed (--allow-host)\n`);
  } else {
    client.end("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nnot allowed by --allow-host\n");
  }
}

/** CONNECT host:port: checked, then spliced to the checked address (or through the host's proxy). */
function onConnect(p: Proxy, req: IncomingMessage, client: Duplex, head: Buffer): void {
  p.track(client);
  client.on("error", () => client.destroy());
  const target = splitHostPort(req.url ?? "");
  const what = `CONNECT ${req.url ?? ""}`;
  if (!target) {
    block(p, what, client);
    return;
  }
  void decide(p, target.host, target.port).then((d) => {
    if ("refused" in d) return block(p, what, client, d.why);
    p.stats.allowed++;
    const upstream = "via" in d ? connectVia(d.via, target.host, target.port) : connectFirst(d.addresses, target.port);
    upstream.then(
      (server) => {
        p.track(server);
        client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        if (head.length) server.write(head);
        splice(client, server);
      },
      () => {
        client.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n");
      },
    );
  });
}

// Plain HTTP: the request head is parsed by node:http (and checked), then written to the checked
// address as cm builds it; the response goes back raw (only its head is rewritten to close the
// connection), so a download is not parsed and re-framed on its way (bench/README.md).
function onRequest(p: Proxy, taken: WeakSet<Duplex>, req: IncomingMessage, res: ServerResponse): void {
  const client = req.socket;
  // A pipelined request after one cm has taken over: the connection closes after the first.
  if (taken.has(client)) return;
  let url: URL;
  try {
    url = new URL(req.url ?? "");
  } catch {
    res.writeHead(400, { connection: "close" });
    res.end("cm: a proxy request needs an absolute http:// URL\n");
    return;
  }
  if (url.protocol !== "http:") {
    res.writeHead(400, { connection: "close" });
    res.end("cm: only http:// is forwarded; use CONNECT for https\n");
    return;
  }
  const port = url.port ? Number(url.port) : 80;
  const host = normalizeHost(url.hostname);
  const what = `${req.method} ${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  req.pause();
  void decide(p, host, port).then((d) => {
    if ("refused" in d) return block(p, what, res, d.why);
    p.stats.allowed++;
    taken.add(client);
    const via = "via" in d ? d.via : undefined;
    const upstream = via ? connectFirst([via.host], via.port) : connectFirst((d as { addresses: string[] }).addresses, port);
    upstream.then(
      (server) => {
        p.track(server);
        server.write(requestHead(req, via ? url.href : `${url.pathname}${url.search}`, via?.authorization));
        forwardBody(req, server);
        relayResponse(server, client);
      },
      () => {
        res.writeHead(502, { connection: "close" });
        res.end();
      },
    );
  });
}

const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authorization",
  "proxy-authenticate",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * The head of a forwarded request (HTTP/1.1, origin-form path, or absolute-form to a host proxy):
 * the client's headers in their order and spelling, without hop-by-hop headers (RFC 9110 7.6.1,
 * including those the Connection header names) and Expect (node:http has answered 100-continue
 * already), with the body's framing kept (Content-Length, or chunked as forwardBody writes it),
 * and Connection: close.
 */
export function requestHead(req: Pick<IncomingMessage, "method" | "rawHeaders" | "headers">, path: string, proxyAuth?: string): string {
  const drop = new Set([...HOP_BY_HOP, "expect", ...connectionTokens(req.headers.connection)]);
  const lines = [`${req.method} ${path} HTTP/1.1`];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    if (!drop.has(name.toLowerCase())) lines.push(`${name}: ${req.rawHeaders[i + 1]}`);
  }
  if (chunked(req.headers)) lines.push("Transfer-Encoding: chunked");
  if (proxyAuth) lines.push(`Proxy-Authorization: ${proxyAuth}`);
  lines.push("Connection: close", "", "");
  return lines.join("\r\n");
}

function connectionTokens(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((t) => t.trim().toLowerCase())
    .filter(Boolean);
}

function chunked(headers: IncomingMessage["headers"]): boolean {
  return /(^|,)\s*chunked\s*$/i.test(headers["transfer-encoding"] ?? "");
}

/** The request body as node:http decoded it, framed again: as is with Content-Length, or chunked. */
function forwardBody(req: IncomingMessage, out: Duplex): void {
  if (!chunked(req.headers)) {
    req.pipe(out, { end: false });
    req.resume();
    return;
  }
  req.on("data", (d: Buffer) => {
    if (d.length) out.write(`${d.length.toString(16)}\r\n`);
    out.write(d);
    out.write("\r\n");
  });
  req.on("end", () => out.write("0\r\n\r\n"));
  req.resume();
}

const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * The upstream's response to the client, raw: its head with the connection headers replaced by
 * Connection: close (the client must not send another request on this connection), then every
 * byte as it comes. Both connections close when either ends.
 */
function relayResponse(server: Duplex, client: Duplex): void {
  let head: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer) => {
    head = head.length ? Buffer.concat([head, d]) : d;
    const end = head.indexOf("\r\n\r\n");
    if (end < 0) {
      if (head.length > MAX_RESPONSE_HEAD) {
        client.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n");
        server.destroy();
      }
      return;
    }
    server.off("data", onData);
    server.pause();
    client.write(responseHead(head.subarray(0, end).toString("latin1")));
    const rest = head.subarray(end + 4);
    if (rest.length) client.write(rest);
    server.pipe(client);
    server.resume();
  };
  server.on("data", onData);
  server.on("end", () => client.end());
  server.on("error", () => client.destroy());
  client.on("close", () => server.destroy());
  client.on("error", () => server.destroy());
}

/** A response head (without the final blank line) with Connection: close instead of its connection headers. */
export function responseHead(head: string): string {
  const [status = "", ...fields] = head.split("\r\n");
  if (/^HTTP\/1\.[01] 1\d\d/.test(status)) return `${head}\r\n\r\n`; // interim: passed on as is
  const named = new Set<string>();
  for (const f of fields) if (/^connection\s*:/i.test(f)) for (const t of connectionTokens(f.slice(f.indexOf(":") + 1))) named.add(t);
  const kept = fields.filter((f) => {
    const name = f.slice(0, f.indexOf(":")).trim().toLowerCase();
    return !["connection", "keep-alive", "proxy-connection"].includes(name) && !(named.has(name) && name !== "transfer-encoding");
  });
  return [status, ...kept, "Connection: close", "", ""].join("\r\n");
}

/** "host:port" or "[v6]:port" of a CONNECT request. */
export function splitHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.%]+)\]|([^:[\]/\s]+)):([0-9]{1,5})$/.exec(text);
  if (!m) return undefined;
  return { host: (m[1] ?? m[2]) as string, port: Number(m[3]) };
}

async function defaultResolve(host: string): Promise<string[]> {
  return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
}

/** Tries the checked addresses in order; resolves with the first connected socket. */
function connectFirst(addresses: string[], port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const tryAt = (i: number) => {
      const address = addresses[i];
      if (address === undefined) return reject(new Error("no address connected"));
      const s = connect({ host: address, port, timeout: CONNECT_TIMEOUT_MS });
      s.once("connect", () => {
        s.setTimeout(0);
        s.removeAllListeners("error");
        s.on("error", () => s.destroy());
        resolve(s);
      });
      s.once("timeout", () => s.destroy(new Error("timeout")));
      s.once("error", () => tryAt(i + 1));
    };
    tryAt(0);
  });
}

/** A tunnel to host:port through the host's proxy (CONNECT). */
function connectVia(up: UpstreamProxy, host: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const target = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
    const headers: Record<string, string> = { host: target };
    if (up.authorization) headers["proxy-authorization"] = up.authorization;
    const req = request({ host: up.host, port: up.port, method: "CONNECT", path: target, headers, agent: false });
    req.on("connect", (res, socket, head) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        return reject(new Error(`host proxy answered ${res.statusCode}`));
      }
      if (head.length) socket.unshift(head);
      socket.on("error", () => socket.destroy());
      resolve(socket);
    });
    req.on("error", reject);
    req.setTimeout(CONNECT_TIMEOUT_MS, () => req.destroy(new Error("timeout")));
    req.end();
  });
}

function splice(a: Duplex, b: Duplex) {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("close", end);
  b.on("close", end);
  a.on("error", end);
  b.on("error", end);
}

function upstreamFor(up: ProxyOptions["upstream"], host: string, port: number): UpstreamProxy | undefined {
  if (!up) return undefined;
  const proxy = port === 80 ? (up.http ?? up.https) : (up.https ?? up.http);
  if (!proxy) return undefined;
  // NO_PROXY as curl and Go read it: names and subdomains, IPs, IPv4 CIDRs, HOST:PORT, *
  if (bypassesProxy(up.noProxy, host, port)) return undefined;
  return proxy;
}

/**
 * The host's proxy from cm's own environment (https_proxy/HTTPS_PROXY, http_proxy/HTTP_PROXY,
 * no_proxy/NO_PROXY; lower-case first, as curl reads them). Only http:// proxies are used.
 */
export function hostUpstream(env: Record<string, string | undefined>): ProxyOptions["upstream"] {
  const parse = (v: string | undefined): UpstreamProxy | undefined => {
    if (!v) return undefined;
    let u: URL;
    try {
      u = new URL(v.includes("://") ? v : `http://${v}`);
    } catch {
      return undefined;
    }
    if (u.protocol !== "http:") return undefined;
    const auth = u.username
      ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString("base64")}`
      : undefined;
    return { host: u.hostname.replace(/^\[|\]$/g, ""), port: u.port ? Number(u.port) : 80, authorization: auth };
  };
  // the same reading of the variables as --http-proxy's (core/run/proxy.ts): lower case first, empty = unset
  const host = hostProxyEnv(env).upstream;
  const https = parse(host.https);
  const http = parse(host.http);
  if (!https && !http) return undefined;
  return { https, http, noProxy: host.noProxy.map((n) => n.toLowerCase()) };
}
