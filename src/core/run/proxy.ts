/**
 * The host's proxy settings, passed into containers as Podman's `--http-proxy` does (on by default):
 * the variables below, exactly as set on the host (both spellings, each only when set and not
 * empty), and nothing else of the host's environment. Pure: the environment comes in as an argument.
 *
 * Source of the list: Podman's `--http-proxy` (containers/common `config.ProxyEnv`): HTTP_PROXY,
 * HTTPS_PROXY, FTP_PROXY, NO_PROXY and their lower-case forms.
 */
import type { HostEnv } from "./env.ts";

/** The variables `--http-proxy` passes, in the order they are added. */
export const PROXY_VARS = [
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "FTP_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "ftp_proxy",
  "no_proxy",
] as const;

/** Where a proxy of cm's own (the sandbox's egress proxy) sends allowed traffic on. */
export interface UpstreamProxy {
  /** proxy URL for http:// requests, as set on the host (not parsed) */
  http?: string;
  /** proxy URL for https:// requests (CONNECT) */
  https?: string;
  /** proxy URL for ftp:// requests */
  ftp?: string;
  /** NO_PROXY's entries, trimmed, empty ones dropped (host names, .domain suffixes, IPs, CIDRs, `*`) */
  noProxy: string[];
}

export interface HostProxy {
  /** `KEY=VALUE` entries for the container, in PROXY_VARS order: what `--http-proxy` passes */
  vars: string[];
  /** the same settings per scheme, for a proxy that forwards through the host's */
  upstream: UpstreamProxy;
}

/**
 * The host's proxy settings: `vars` for the container, `upstream` for a proxy of cm's own.
 * Per scheme the lower-case variable wins over the upper-case one when both are set (curl, wget
 * and Python's urllib do so; curl ignores upper-case HTTP_PROXY altogether, for the "httpoxy" CGI
 * issue). An empty value counts as unset (as Go's net/http/httpproxy treats it).
 */
export function hostProxyEnv(env: HostEnv): HostProxy {
  const vars: string[] = [];
  for (const name of PROXY_VARS) {
    const value = env[name];
    if (value !== undefined && value !== "") vars.push(`${name}=${value}`);
  }
  const pick = (lower: string, upper: string) => {
    const l = env[lower];
    if (l !== undefined && l !== "") return l;
    const u = env[upper];
    return u !== undefined && u !== "" ? u : undefined;
  };
  const upstream: UpstreamProxy = {
    noProxy: (pick("no_proxy", "NO_PROXY") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  };
  const http = pick("http_proxy", "HTTP_PROXY");
  const https = pick("https_proxy", "HTTPS_PROXY");
  const ftp = pick("ftp_proxy", "FTP_PROXY");
  if (http !== undefined) upstream.http = http;
  if (https !== undefined) upstream.https = https;
  if (ftp !== undefined) upstream.ftp = ftp;
  return { vars, upstream };
}

/**
 * Whether a request to `host` goes direct rather than through the upstream proxy, by NO_PROXY's
 * entries (`upstream.noProxy`), with the rules curl and Go share: `*` matches everything; an entry
 * matches the host itself and, with or without a leading dot, its subdomains (`example.com` and
 * `.example.com` both match `a.example.com`); an entry with a port (`host:8080`) matches only that
 * port; IP addresses match literally, and `a.b.c.d/n` (IPv4 CIDR) matches the addresses in it.
 * Host names compare case-insensitively; `[::1]` brackets are ignored.
 */
export function bypassesProxy(noProxy: readonly string[], host: string, port?: number): boolean {
  const h = unbracket(host.toLowerCase()).replace(/\.$/, "");
  for (const raw of noProxy) {
    let entry = raw.trim().toLowerCase();
    if (entry === "") continue;
    if (entry === "*") return true;
    let entryPort: number | undefined;
    const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(entry);
    if (m) {
      entry = m[1] as string;
      entryPort = Number(m[2]);
    }
    if (entryPort !== undefined && port !== undefined && entryPort !== port) continue;
    entry = unbracket(entry).replace(/\.$/, "");
    if (entry.includes("/")) {
      if (inCidr(h, entry)) return true;
      continue;
    }
    const bare = entry.startsWith(".") ? entry.slice(1) : entry;
    if (bare === "") continue;
    if (h === bare || h.endsWith(`.${bare}`)) return true;
  }
  return false;
}

function unbracket(s: string): string {
  return s.startsWith("[") && s.endsWith("]") ? s.slice(1, -1) : s;
}

function ipv4(s: string): number | undefined {
  const parts = s.split(".");
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

function inCidr(host: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split("/");
  const bits = Number(bitsText);
  const a = ipv4(host);
  const b = ipv4(net ?? "");
  if (a === undefined || b === undefined || !/^\d{1,2}$/.test(bitsText ?? "") || bits > 32) return false;
  const size = 2 ** (32 - bits);
  return Math.floor(a / size) === Math.floor(b / size);
}

/**
 * The proxy variables a container gets: `vars` (hostProxyEnv's) without those the bundle's own
 * environment `stored` (KEY=VALUE entries, e.g. an image's Env) already sets, as Podman keeps an
 * image's value. --env comes later and wins over both.
 */
export function proxyEnvFor(stored: readonly string[], vars: readonly string[]): string[] {
  const key = (e: string) => e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("="));
  const have = new Set(stored.map(key));
  return vars.filter((v) => !have.has(key(v)));
}
