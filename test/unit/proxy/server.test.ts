/**
 * cm's egress proxy (src/proxy/server.ts) on the host's loopback: real clients (node:net, raw
 * HTTP/1.1 bytes) against createEgressProxy listening on 127.0.0.1, real servers on 127.0.0.1 under
 * made-up names given by the `resolve` option. Nothing reaches beyond loopback.
 */
import assert from "node:assert/strict";
import { createServer as createHttp, type Server } from "node:http";
import { type AddressInfo, connect, createServer as createTcp, type Server as TcpServer } from "node:net";
import { after, before, describe, test } from "node:test";
import { parseAllowHost } from "../../../src/core/run/allowhost.ts";
import { createEgressProxy, type EgressProxy, hostUpstream, requestHead, responseHead } from "../../../src/proxy/server.ts";

function listen(server: Server | TcpServer, host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

/** Sends raw bytes to 127.0.0.1:port and resolves to everything read until the server closes. */
function exchange(port: number, bytes: string | Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    s.on("data", (d: Buffer) => got.push(d));
    s.on("end", () => resolve(Buffer.concat(got).toString("latin1")));
    s.on("error", reject);
    for (const b of typeof bytes === "string" ? [bytes] : bytes) s.write(b);
  });
}

/** The payload of a chunked body (the proxy passes the origin's framing through untouched). */
function dechunk(body: string): string {
  let out = "";
  let rest = body;
  for (;;) {
    const eol = rest.indexOf("\r\n");
    const size = Number.parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}

const seen: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string }[] = [];
let origin: Server;
let originPort = 0;
let echo: TcpServer;
let echoPort = 0;

before(async () => {
  origin = createHttp((req, res) => {
    let body = "";
    req.on("data", (d) => {
      body += d;
    });
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      if (req.url === "/chunked") {
        res.write("part one, ");
        res.end("part two");
        return;
      }
      res.setHeader("keep-alive", "timeout=5");
      res.end(`${req.method} ${req.url} ${body}`);
    });
  });
  originPort = await listen(origin);
  echo = createTcp((s) => s.pipe(s));
  echoPort = await listen(echo);
});
after(() => {
  origin.close();
  echo.close();
});

describe("the egress proxy", () => {
  const reports: string[] = [];
  let proxy: EgressProxy;
  let port = 0;
  before(async () => {
    proxy = createEgressProxy({
      allow: [
        `allowed.test:${originPort}`,
        "internal.test",
        `two.test:${originPort}`,
        `127.0.0.1:${originPort}`,
        `127.0.0.1:${echoPort}`,
        `127.0.0.3:${originPort}`,
      ].map((p) => parseAllowHost(p)),
      report: (line) => reports.push(line),
      resolve: async (host) =>
        ({
          "allowed.test": ["127.0.0.1"],
          "internal.test": ["10.0.0.1"],
          // the first address refuses connections (nothing listens on 127.0.0.3): the next is tried
          "two.test": ["127.0.0.3", "127.0.0.1"],
          "other.test": ["127.0.0.1"],
        })[host] ?? [],
    });
    port = await listen(proxy.server);
  });
  after(() => proxy.close());

  test("plain HTTP to an allowed name: forwarded to the checked address, the response raw with Connection: close", async () => {
    const out = await exchange(
      port,
      `GET http://allowed.test:${originPort}/a?b=1 HTTP/1.1\r\nHost: allowed.test:${originPort}\r\nX-Keep: yes\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n\r\n`,
    );
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(out, /\r\nConnection: close\r\n/);
    assert.doesNotMatch(out, /keep-alive/i);
    assert.ok(out.endsWith("\r\n\r\nGET /a?b=1 "), out);
    const req = seen.at(-1);
    assert.equal(req?.url, "/a?b=1");
    assert.equal(req?.headers?.["x-keep"], "yes");
    assert.equal(req?.headers?.host, `allowed.test:${originPort}`);
    assert.equal(req?.headers?.connection, "close");
    assert.equal(req?.headers?.["x-drop"], undefined);
    assert.equal(req?.headers?.["proxy-connection"], undefined);
  });

  test("request bodies arrive whole: Content-Length as is, chunked framed again; a chunked response passes raw", async () => {
    const sized = await exchange(
      port,
      `POST http://allowed.test:${originPort}/p HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 11\r\n\r\nhello world`,
    );
    assert.ok(sized.endsWith("POST /p hello world"), sized);
    const chunked = await exchange(port, [
      Buffer.from(`PUT http://allowed.test:${originPort}/c HTTP/1.1\r\nHost: allowed.test\r\nTransfer-Encoding: chunked\r\n\r\n`),
      Buffer.from("5\r\nabcde\r\n3\r\nfgh\r\n0\r\n\r\n"),
    ]);
    assert.ok(chunked.endsWith("PUT /c abcdefgh"), chunked);
    const response = await exchange(port, `GET http://allowed.test:${originPort}/chunked HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
    assert.match(response, /\r\nTransfer-Encoding: chunked\r\n/i);
    assert.equal(dechunk(response.slice(response.indexOf("\r\n\r\n") + 4)), "part one, part two");
  });

  test("the next checked address is tried when the first refuses the connection", async () => {
    const out = await exchange(port, `GET http://two.test:${originPort}/second HTTP/1.1\r\nHost: two.test\r\n\r\n`);
    assert.ok(out.endsWith("GET /second "), out);
  });

  test("refused: another name, another port, an address not allowed, an allowed name resolving inside; each reported once", async () => {
    const before = reports.length;
    const blocked = proxy.stats.blocked;
    const r1 = await exchange(port, `GET http://other.test:${originPort}/ HTTP/1.1\r\nHost: other.test\r\n\r\n`);
    const r2 = await exchange(port, "CONNECT allowed.test:22 HTTP/1.1\r\nHost: allowed.test:22\r\n\r\n");
    const r3 = await exchange(port, "CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n");
    const r4 = await exchange(port, "GET http://internal.test/ HTTP/1.1\r\nHost: internal.test\r\n\r\n");
    for (const r of [r1, r2, r3, r4]) assert.match(r, /^HTTP\/1\.1 403 /);
    assert.deepEqual(reports.slice(before), [
      `blocked GET other.test:${originPort}`,
      "blocked CONNECT allowed.test:22",
      "blocked CONNECT 127.0.0.1:1",
      "blocked GET internal.test:80 (resolves to 10.0.0.1, an internal address: allow it with --allow-host 10.0.0.1:80)",
    ]);
    assert.equal(proxy.stats.blocked, blocked + 4);
    assert.ok(proxy.stats.allowed >= 5);
  });
});

describe("CONNECT tunnels", () => {
  test("bytes flow both ways through an allowed tunnel", async () => {
    const proxy = createEgressProxy({ allow: [parseAllowHost(`127.0.0.1:${echoPort}`)], report: () => {} });
    const port = await listen(proxy.server);
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const s = connect(port, "127.0.0.1");
        let text = "";
        s.on("data", (d) => {
          text += d;
          if (text.includes("\r\n\r\nping")) {
            s.destroy();
            resolve(text);
          }
        });
        s.on("error", reject);
        s.write(`CONNECT 127.0.0.1:${echoPort} HTTP/1.1\r\nHost: 127.0.0.1:${echoPort}\r\n\r\nping`);
      });
      assert.match(got, /^HTTP\/1\.1 200 Connection Established\r\n\r\nping$/);
      assert.equal(proxy.stats.allowed, 1);
    } finally {
      proxy.close();
    }
  });
});

describe("a host proxy (https_proxy/http_proxy in cm's environment)", () => {
  test("allowed traffic goes through it: CONNECT for tunnels, absolute-form for plain HTTP, with its credentials", async () => {
    const upstreamSeen: string[] = [];
    // A small host proxy: records each request head, then relays to the echo server or the origin.
    const host = createTcp((c) => {
      let head = "";
      const onData = (d: Buffer) => {
        head += d.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        c.off("data", onData);
        upstreamSeen.push(head.slice(0, end));
        const rest = head.slice(end + 4);
        if (head.startsWith("CONNECT ")) {
          const t = connect(echoPort, "127.0.0.1", () => {
            c.write("HTTP/1.1 200 OK\r\n\r\n");
            if (rest) t.write(rest);
            c.pipe(t).pipe(c);
          });
        } else {
          const t = connect(originPort, "127.0.0.1", () => {
            t.write(head.replace(/^GET http:\/\/[^/]+/, "GET "));
            c.pipe(t).pipe(c);
          });
        }
      };
      c.on("data", onData);
    });
    const hostPort = await listen(host);
    const proxy = createEgressProxy({
      allow: [parseAllowHost("far.test:7"), parseAllowHost("far.test")],
      report: () => {},
      resolve: async () => {
        throw new Error("names are the host proxy's to resolve");
      },
      upstream: hostUpstream({ https_proxy: `http://user:p%40ss@127.0.0.1:${hostPort}`, no_proxy: "localhost" }),
    });
    const port = await listen(proxy.server);
    try {
      const tunnel = await new Promise<string>((resolve, reject) => {
        const s = connect(port, "127.0.0.1");
        let text = "";
        s.on("data", (d) => {
          text += d;
          if (text.endsWith("ping")) {
            s.destroy();
            resolve(text);
          }
        });
        s.on("error", reject);
        s.write("CONNECT far.test:7 HTTP/1.1\r\nHost: far.test:7\r\n\r\nping");
      });
      assert.match(tunnel, /^HTTP\/1\.1 200 Connection Established\r\n\r\nping$/);
      const plain = await exchange(port, "GET http://far.test/x HTTP/1.1\r\nHost: far.test\r\n\r\n");
      assert.ok(plain.endsWith("GET /x "), plain);
      const auth = `Basic ${Buffer.from("user:p@ss").toString("base64")}`;
      assert.match(upstreamSeen[0] ?? "", /^CONNECT far\.test:7 HTTP\/1\.1\r\n/);
      assert.match(upstreamSeen[0] ?? "", new RegExp(`\\r\\nproxy-authorization: ${auth}`, "i"));
      assert.match(upstreamSeen[1] ?? "", /^GET http:\/\/far\.test\/x HTTP\/1\.1\r\n/);
      assert.match(upstreamSeen[1] ?? "", new RegExp(`\\r\\nProxy-Authorization: ${auth}`));
      // a no_proxy name is not sent to the host proxy
      assert.equal(hostUpstream({ http_proxy: "http://127.0.0.1:1", no_proxy: ".far.test" })?.noProxy[0], ".far.test");
    } finally {
      proxy.close();
      host.close();
    }
  });
});

describe("heads", () => {
  test("requestHead: the client's headers in order, hop-by-hop and Expect dropped, framing kept, Connection: close", () => {
    const head = requestHead(
      {
        method: "POST",
        rawHeaders: [
          "Host",
          "a.test",
          "Connection",
          "x-hop",
          "X-Hop",
          "1",
          "Expect",
          "100-continue",
          "Transfer-Encoding",
          "chunked",
          "Accept",
          "*/*",
        ],
        headers: {
          host: "a.test",
          connection: "x-hop",
          "x-hop": "1",
          expect: "100-continue",
          "transfer-encoding": "chunked",
          accept: "*/*",
        },
      },
      "/up",
      "Basic eA==",
    );
    assert.equal(
      head,
      "POST /up HTTP/1.1\r\nHost: a.test\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\nProxy-Authorization: Basic eA==\r\nConnection: close\r\n\r\n",
    );
  });

  test("responseHead: connection headers replaced by Connection: close; interim responses passed as they are", () => {
    assert.equal(
      responseHead("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: 1\r\nContent-Length: 3"),
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\n",
    );
    assert.equal(responseHead("HTTP/1.1 100 Continue"), "HTTP/1.1 100 Continue\r\n\r\n");
    assert.equal(
      responseHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: transfer-encoding"),
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    );
  });
});
