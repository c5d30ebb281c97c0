/**
 * One run's egress: cm's proxy (proxy/server.ts) served into the container's network namespace
 * (proxy/netns.ts) for as long as the owning cm process waits for the container. The owner is
 * `cm run` in the foreground, the monitor of a detached run, `cm create` for post_create.
 */
import type { Socket } from "node:net";
import { type HostPattern, PROXY_PORT } from "../core/run/allowhost.ts";
import { serveIntoNetns } from "./netns.ts";
import { createEgressProxy, hostUpstream, type ProxyStats } from "./server.ts";

export interface Egress {
  stats: ProxyStats;
  close(): void;
}

/**
 * Starts serving the run directory's hook; the container must be started after this returns (its
 * createRuntime hook waits for this process). `report` gets one line per refused connection.
 */
export function startEgress(
  runDir: string,
  opts: { allow: readonly HostPattern[]; rootless: boolean; report: (line: string) => void; env?: NodeJS.ProcessEnv },
): Egress {
  const env = opts.env ?? process.env;
  const proxy = createEgressProxy({
    allow: opts.allow,
    report: opts.report,
    resolve: resolverOverride(env.CM_PROXY_RESOLVE),
    upstream: hostUpstream(env),
  });
  const listener = serveIntoNetns(runDir, {
    port: PROXY_PORT,
    rootless: opts.rootless,
    onConnection: (s: Socket) => {
      proxy.server.emit("connection", s);
      s.resume();
    },
  });
  return {
    stats: proxy.stats,
    close() {
      listener.close();
      proxy.close();
    },
  };
}

/**
 * `CM_PROXY_RESOLVE=name=address[,name=address...]`: names the proxy resolves to these addresses
 * instead of asking the host's resolver (for tests, which serve on 127.0.0.1 under made-up names).
 * It only changes what a name resolves to: the allow check, and the refusal of internal addresses
 * not allowed explicitly, still apply. Read from cm's own environment only (never from cm.toml or
 * the container). Unlisted names use the host's resolver.
 */
export function resolverOverride(text: string | undefined): ((host: string) => Promise<string[]>) | undefined {
  if (!text) return undefined;
  const map = new Map<string, string[]>();
  for (const entry of text.split(",")) {
    const eq = entry.indexOf("=");
    if (eq < 1) continue;
    const name = entry.slice(0, eq).trim().toLowerCase();
    map.set(name, [...(map.get(name) ?? []), entry.slice(eq + 1).trim()]);
  }
  return async (host) => {
    const fixed = map.get(host);
    if (fixed) return fixed;
    const { lookup } = await import("node:dns/promises");
    return (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);
  };
}

export type { HostPattern };
