/**
 * `--allow-host PATTERN`: which hosts a run's egress proxy lets through. Pure.
 *
 *   example.com          that name, ports 80 and 443
 *   *.example.com        any name below example.com (not example.com itself), ports 80 and 443
 *   example.com:8443     that name, that port only
 *   127.0.0.1, [::1]:80  an address: connections to it by literal, and names resolving to it
 *
 * Names are compared lower-case without a trailing dot. A name that resolves to a loopback,
 * link-local, private or otherwise internal address (`isInternalAddress`) is refused unless the
 * address itself is allowed by an address pattern: no reaching the host's own services by DNS.
 */
import { isIP } from "node:net";
import { CmError } from "../../errors.ts";

export interface HostPattern {
  /** lower-case name without the "*." prefix, or an address (IPv6 without brackets) */
  host: string;
  /** `*.host`: names strictly below host */
  wildcard: boolean;
  /** an IP address, not a name */
  address: boolean;
  /** ports allowed; undefined: 80 and 443 */
  port?: number | undefined;
  /** the text as given, for messages */
  text: string;
}

export const DEFAULT_PORTS = [80, 443] as const;

/** The port cm's proxy listens on inside the container's network namespace (127.0.0.1). */
export const PROXY_PORT = 3128;

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

/** Parses one pattern; `where` names its origin in messages (a flag or a cm.toml key). */
export function parseAllowHost(text: string, where = "--allow-host"): HostPattern {
  const bad = (why: string) =>
    new CmError("bad-allow-host", `${where} ${JSON.stringify(text)}: ${why}`, {
      hint: "give a host name (example.com), *.example.com, or an address, each optionally with :PORT",
    });
  let rest = text.trim().toLowerCase();
  let port: number | undefined;
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]");
    if (end < 0) throw bad("unclosed [");
    const after = rest.slice(end + 1);
    if (after !== "" && !after.startsWith(":")) throw bad("unexpected text after ]");
    if (after) port = parsePort(after.slice(1), bad);
    rest = rest.slice(1, end);
    if (isIP(rest) !== 6) throw bad("not an IPv6 address in [ ]");
    return { host: rest, wildcard: false, address: true, port, text };
  }
  if (isIP(rest) === 6) return { host: rest, wildcard: false, address: true, port, text };
  const colon = rest.lastIndexOf(":");
  if (colon >= 0) {
    port = parsePort(rest.slice(colon + 1), bad);
    rest = rest.slice(0, colon);
  }
  if (rest.endsWith(".")) rest = rest.slice(0, -1);
  if (isIP(rest) === 4) return { host: rest, wildcard: false, address: true, port, text };
  let wildcard = false;
  if (rest.startsWith("*.")) {
    wildcard = true;
    rest = rest.slice(2);
  }
  if (rest === "" || rest.length > 253) throw bad("empty or too long");
  const labels = rest.split(".");
  if (!labels.every((l) => LABEL.test(l))) throw bad("not a host name (letters, digits, '-', '_' between dots; '*.' only in front)");
  if (wildcard && labels.length < 2) throw bad("a wildcard needs a domain with a dot (*.example.com)");
  return { host: rest, wildcard, address: false, port, text };
}

function parsePort(s: string, bad: (why: string) => Error): number {
  const n = Number(s);
  if (!/^[0-9]{1,5}$/.test(s) || n < 1 || n > 65535) throw bad(`bad port ${JSON.stringify(s)} (1-65535)`);
  return n;
}

/** A name as requested by a client: lower-case, no trailing dot, IPv6 without brackets. */
export function normalizeHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h.endsWith(".")) h = h.slice(0, -1);
  return h;
}

function portMatches(p: HostPattern, port: number): boolean {
  return p.port === undefined ? (DEFAULT_PORTS as readonly number[]).includes(port) : p.port === port;
}

/** The pattern allowing a connection to `host` (a name or an address literal) on `port`, if any. */
export function matchHost(patterns: readonly HostPattern[], host: string, port: number): HostPattern | undefined {
  const h = normalizeHost(host);
  const literal = isIP(h) !== 0;
  return patterns.find((p) => {
    if (!portMatches(p, port)) return false;
    if (p.address || literal) return p.address && literal && sameAddress(p.host, h);
    return p.wildcard ? h.endsWith(`.${p.host}`) : h === p.host;
  });
}

/** Whether an address that a name resolved to may be connected to: public, or allowed explicitly. */
export function addressAllowed(patterns: readonly HostPattern[], address: string, port: number): boolean {
  if (!isInternalAddress(address)) return true;
  return patterns.some((p) => p.address && portMatches(p, port) && sameAddress(p.host, address));
}

function sameAddress(a: string, b: string): boolean {
  const x = parseAddress(a);
  const y = parseAddress(b);
  return x !== undefined && y !== undefined && x.length === y.length && x.every((v, i) => v === y[i]);
}

/** An address as 4 (IPv4) or 16 (IPv6) bytes; IPv4-mapped IPv6 (::ffff:a.b.c.d) as its IPv4. */
export function parseAddress(text: string): number[] | undefined {
  const kind = isIP(text);
  if (kind === 4) return text.split(".").map(Number);
  if (kind !== 6) return undefined;
  let s = text;
  const zone = s.indexOf("%");
  if (zone >= 0) s = s.slice(0, zone);
  let tail: number[] = [];
  const lastColon = s.lastIndexOf(":");
  if (s.slice(lastColon + 1).includes(".")) {
    tail = s
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, back] = s.includes("::") ? s.split("::") : [s, undefined];
  const words = (part: string | undefined) => (part ? part.split(":").map((w) => Number.parseInt(w, 16)) : []);
  const h = words(head);
  const b = words(back);
  const all = back === undefined ? h : [...h, ...new Array(8 - h.length - b.length).fill(0), ...b];
  const bytes = all.flatMap((w) => [w >> 8, w & 255]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  const mapped = bytes.slice(0, 10).every((v) => v === 0) && bytes[10] === 255 && bytes[11] === 255;
  return mapped ? bytes.slice(12) : bytes;
}

/**
 * Loopback, link-local, private, shared (CGNAT), unspecified, multicast, broadcast and other
 * reserved ranges (RFC 6890 special-purpose registries), for IPv4, IPv6 and IPv4-mapped IPv6;
 * IPv6 forms that carry an IPv4 address a host may route to (IPv4-compatible, 6to4 of an internal
 * address, Teredo, NAT64) too.
 */
export function isInternalAddress(text: string): boolean {
  const a = parseAddress(text);
  if (!a) return true;
  if (a.length === 4) {
    const [x = 0, y = 0] = a;
    return (
      x === 0 || // "this network"
      x === 10 ||
      x === 127 ||
      (x === 100 && y >= 64 && y < 128) || // shared address space (CGNAT)
      (x === 169 && y === 254) ||
      (x === 172 && y >= 16 && y < 32) ||
      (x === 192 && y === 168) ||
      (x === 192 && y === 0 && (a[2] === 0 || a[2] === 2)) || // IETF protocol assignments, TEST-NET-1
      (x === 198 && (y === 18 || y === 19)) || // benchmarking
      x >= 224 // multicast, reserved, broadcast
    );
  }
  const [b0 = 0, b1 = 0] = a;
  if (a.every((v, i) => v === 0 || (i === 15 && v <= 1))) return true; // :: and ::1
  // IPv4 addresses inside IPv6 that a host may route to IPv4: IPv4-compatible ::a.b.c.d
  // (deprecated, RFC 4291; a host with a sit tunnel reaches a.b.c.d), 6to4 2002:AABB:CCDD::/48
  // (RFC 3056: internal when its IPv4 is), Teredo 2001::/32 (RFC 4380: any IPv4 behind it)
  if (a.slice(0, 12).every((v) => v === 0)) return true;
  if (b0 === 0x20 && b1 === 0x02 && isInternalAddress(a.slice(2, 6).join("."))) return true;
  if (b0 === 0x20 && b1 === 0x01 && a[2] === 0 && a[3] === 0) return true;
  if (b0 === 0x01 && b1 === 0x00 && a.slice(2, 8).every((v) => v === 0)) return true; // discard-only 100::/64
  return (
    (b0 & 0xfe) === 0xfc || // unique local fc00::/7
    (b0 === 0xfe && (b1 & 0xc0) === 0x80) || // link-local fe80::/10
    (b0 === 0xfe && (b1 & 0xc0) === 0xc0) || // site-local fec0::/10 (deprecated)
    b0 === 0xff || // multicast
    (b0 === 0x00 && b1 === 0x64 && a[2] === 0xff && a[3] === 0x9b) || // NAT64 64:ff9b::/96 can reach IPv4 anywhere
    (b0 === 0x20 && b1 === 0x01 && a[2] === 0x0d && a[3] === 0xb8) // documentation
  );
}

/**
 * The environment that points a container's clients at cm's proxy: both spellings of the proxy
 * variables (curl reads http_proxy only lower-case; Go, Python and npm read either), and NO_PROXY
 * for the container's own loopback.
 */
export function proxyEnv(port = PROXY_PORT): string[] {
  const url = `http://127.0.0.1:${port}`;
  const noProxy = "localhost,127.0.0.1,::1";
  return [
    `HTTP_PROXY=${url}`,
    `HTTPS_PROXY=${url}`,
    `http_proxy=${url}`,
    `https_proxy=${url}`,
    `NO_PROXY=${noProxy}`,
    `no_proxy=${noProxy}`,
  ];
}
