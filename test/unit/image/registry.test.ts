import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { sha256 } from "../../../src/image/blob-store.ts";
import { parseReference } from "../../../src/image/reference.ts";
import { plainHttpAllowed, Registry } from "../../../src/image/registry.ts";

interface Seen {
  url: string;
  headers: Record<string, string>;
}

/** A fake fetch: answers from a list of handlers, records requests. */
function fake(handler: (url: URL, headers: Record<string, string>, n: number) => Response): { fetch: typeof fetch; seen: Seen[] } {
  const seen: Seen[] = [];
  const f = (async (input: URL | string, init?: RequestInit) => {
    const url = new URL(String(input));
    const headers = { ...(init?.headers as Record<string, string>) };
    seen.push({ url: url.href, headers });
    return handler(url, headers, seen.length);
  }) as typeof fetch;
  return { fetch: f, seen };
}

const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2 }));

describe("registry client", () => {
  test("plain HTTP only for loopback or named hosts", () => {
    assert.equal(plainHttpAllowed("localhost:5000", []), true);
    assert.equal(plainHttpAllowed("127.0.0.1:5000", []), true);
    assert.equal(plainHttpAllowed("registry.lan:5000", []), false);
    assert.equal(plainHttpAllowed("registry.lan:5000", ["registry.lan"]), true);
    assert.equal(plainHttpAllowed("registry.lan:5000", ["registry.lan:5000"]), true);
    assert.equal(new Registry(parseReference("registry.lan/x"), { insecure: [], credentials: undefined }).base, "https://registry.lan");
    assert.equal(new Registry(parseReference("debian"), { insecure: [], credentials: undefined }).base, "https://registry-1.docker.io");
    assert.equal(new Registry(parseReference("localhost:5000/x"), { insecure: [], credentials: undefined }).base, "http://localhost:5000");
  });

  test("bearer challenge: a scoped token (with credentials as basic auth), then the request again", async () => {
    const { fetch, seen } = fake((url, headers) => {
      if (url.pathname === "/token") return Response.json({ token: "T" });
      if (headers.authorization !== "Bearer T")
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="https://auth.example/token",service="reg"' },
        });
      return new Response(manifest, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
    });
    const r = new Registry(parseReference("reg.example/org/app:1"), {
      insecure: [],
      credentials: { username: "u", password: "p", source: "/auth.json" },
      fetch,
    });
    const m = await r.manifest("1");
    assert.equal(m.digest, sha256(manifest));
    assert.equal(seen[1]?.url, "https://auth.example/token?service=reg&scope=repository%3Aorg%2Fapp%3Apull");
    assert.equal(seen[1]?.headers.authorization, `Basic ${Buffer.from("u:p").toString("base64")}`);
    assert.match(seen[2]?.headers.accept ?? "", /application\/vnd.oci.image.index.v1\+json/);
  });

  test("an identity token is POSTed to the realm as an OAuth2 refresh token; credentials are asked for only on a 401, once", async () => {
    const bodies: string[] = [];
    let asked = 0;
    const f = (async (input: URL | string, init?: RequestInit) => {
      const url = new URL(String(input));
      const headers = { ...(init?.headers as Record<string, string>) };
      if (url.pathname === "/token") {
        assert.equal(init?.method, "POST");
        assert.equal(headers["content-type"], "application/x-www-form-urlencoded");
        assert.equal(headers.authorization, undefined);
        bodies.push(String(init?.body));
        return Response.json({ access_token: "A" });
      }
      if (headers.authorization !== "Bearer A")
        return new Response(null, {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="https://auth.example/token",service="reg"' },
        });
      return new Response(manifest, { headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" } });
    }) as typeof fetch;
    const r = new Registry(parseReference("reg.example/org/app:1"), {
      insecure: [],
      credentials: async () => {
        asked++;
        return { username: "", password: "", identityToken: "R", source: "docker-credential-x" };
      },
      fetch: f,
    });
    await r.manifest("1");
    await r.manifest("1");
    assert.equal(asked, 1);
    const form = new URLSearchParams(bodies[0]);
    assert.equal(form.get("grant_type"), "refresh_token");
    assert.equal(form.get("refresh_token"), "R");
    assert.equal(form.get("service"), "reg");
    assert.equal(form.get("scope"), "repository:org/app:pull");
    assert.equal(form.get("client_id"), "cm");
    // a registry that needs no authentication never asks
    const open = new Registry(parseReference("localhost:5000/x"), {
      insecure: [],
      credentials: async () => {
        throw new Error("must not be called");
      },
      fetch: fake(() => new Response(manifest)).fetch,
    });
    await open.manifest("latest");
  });

  test("an identity token cannot answer a Basic challenge", async () => {
    const { fetch } = fake(() => new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }));
    const r = new Registry(parseReference("reg.example/x"), {
      insecure: [],
      credentials: { username: "", password: "", identityToken: "REFRESH-SECRET", source: "helper" },
      fetch,
    });
    await assert.rejects(
      r.manifest("1"),
      (e: unknown) => e instanceof CmError && /identity token/.test(e.message) && !`${e.message} ${e.hint}`.includes("REFRESH-SECRET"),
    );
  });

  test("a digest-addressed manifest must hash to its digest", async () => {
    const { fetch } = fake(() => new Response(manifest));
    const r = new Registry(parseReference("localhost:5000/x"), { insecure: [], credentials: undefined, fetch });
    await assert.rejects(r.manifest(`sha256:${"0".repeat(64)}`), (e: unknown) => e instanceof CmError && e.code === "digest-mismatch");
  });

  test("redirects: Authorization is not sent to another origin; HTTPS is never downgraded", async () => {
    const { fetch, seen } = fake((url, headers) => {
      if (url.host === "reg.example" && !headers.authorization)
        return new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } });
      if (url.host === "reg.example")
        return new Response(null, { status: 307, headers: { location: "https://storage.example/blob?sig=1" } });
      return new Response("data");
    });
    const r = new Registry(parseReference("reg.example/x"), {
      insecure: [],
      credentials: { username: "u", password: "p", source: "f" },
      fetch,
    });
    const b = await r.blob(`sha256:${"a".repeat(64)}`, 0, "blob");
    assert.equal(b.status, 200);
    assert.equal(seen.at(-1)?.url, "https://storage.example/blob?sig=1");
    assert.equal(seen.at(-1)?.headers.authorization, undefined);
    assert.ok(seen.at(-2)?.headers.authorization?.startsWith("Basic "));

    const down = fake(() => new Response(null, { status: 302, headers: { location: "http://storage.example/blob" } }));
    const r2 = new Registry(parseReference("reg.example/x"), { insecure: [], credentials: undefined, fetch: down.fetch });
    await assert.rejects(
      r2.blob(`sha256:${"a".repeat(64)}`, 0, "blob"),
      (e: unknown) => e instanceof CmError && e.code === "insecure-redirect",
    );
  });

  test("transient errors are retried with back-off; a resumed blob asks for a Range", async () => {
    const { fetch, seen } = fake((_u, headers, n) => {
      if (n === 1) throw new TypeError("fetch failed");
      if (n === 2) return new Response(null, { status: 503 });
      return new Response("rest", { status: 206, headers: { "content-range": `bytes 10-13/14`, "x-range": headers.range ?? "" } });
    });
    const r = new Registry(parseReference("localhost:5000/x"), { insecure: [], credentials: undefined, fetch, backoffMs: 1 });
    const b = await r.blob(`sha256:${"a".repeat(64)}`, 10, "blob");
    assert.equal(b.status, 206);
    assert.equal(b.rangeStart, 10);
    assert.equal(seen.length, 3);
    assert.equal(seen[2]?.headers.range, "bytes=10-");
  });

  test("clear errors: not found, denied, unreachable", async () => {
    const cases: [() => Response, RegExp][] = [
      [() => new Response(null, { status: 404 }), /not found/],
      [() => new Response(null, { status: 401, headers: { "www-authenticate": 'Basic realm="r"' } }), /access denied/],
      [() => new Response(null, { status: 403 }), /access denied/],
      [
        () => {
          throw new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } });
        },
        /cannot reach the registry localhost:5000: ECONNREFUSED/,
      ],
      [() => new Response(null, { status: 500 }), /HTTP 500/],
    ];
    for (const [h, re] of cases) {
      const { fetch } = fake(h);
      const r = new Registry(parseReference("localhost:5000/x"), {
        insecure: [],
        credentials: undefined,
        fetch,
        backoffMs: 1,
        attempts: 2,
      });
      await assert.rejects(
        r.manifest("latest"),
        (e: unknown) => e instanceof CmError && re.test(e.message) && !e.message.includes("\n"),
        re.source,
      );
    }
  });
});
