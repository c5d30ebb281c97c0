import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { basicAuth, parseChallenges, refreshTokenForm, tokenFrom, tokenUrl } from "../../../src/image/auth.ts";

describe("WWW-Authenticate challenges", () => {
  test("Docker Hub's bearer challenge", () => {
    const c = parseChallenges(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull"',
    );
    assert.deepEqual(c, [
      {
        scheme: "bearer",
        params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/debian:pull" },
      },
    ]);
  });

  test("basic, unquoted values, spaces, escapes, several challenges", () => {
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: "basic", params: { realm: "Registry Realm" } }]);
    assert.deepEqual(parseChallenges("Bearer realm=https://x/t , service=svc"), [
      { scheme: "bearer", params: { realm: "https://x/t", service: "svc" } },
    ]);
    assert.deepEqual(parseChallenges('Bearer realm="a\\"b"'), [{ scheme: "bearer", params: { realm: 'a"b' } }]);
    const two = parseChallenges('Basic realm="r", Bearer realm="https://t/token",service="s"');
    assert.equal(two.length, 2);
    assert.equal(two[1]?.scheme, "bearer");
    assert.equal(two[1]?.params.service, "s");
    assert.deepEqual(parseChallenges(""), []);
  });

  test("the token URL carries service and the union of scopes", () => {
    const url = tokenUrl(
      { scheme: "bearer", params: { realm: "https://auth.example/token?x=1", service: "reg", scope: "repository:a:pull" } },
      ["repository:a:pull", "repository:b:pull"],
    );
    assert.equal(url.origin, "https://auth.example");
    assert.equal(url.searchParams.get("x"), "1");
    assert.equal(url.searchParams.get("service"), "reg");
    assert.deepEqual(url.searchParams.getAll("scope"), ["repository:a:pull", "repository:b:pull"]);
  });

  test("an OAuth2 refresh-token form: grant, token, client, service and the scopes in one field", () => {
    const form = refreshTokenForm(
      { scheme: "bearer", params: { realm: "https://a/t", service: "svc", scope: "repository:a:pull" } },
      ["repository:a:pull", "repository:b:pull"],
      "R1",
    );
    assert.equal(form.get("grant_type"), "refresh_token");
    assert.equal(form.get("refresh_token"), "R1");
    assert.equal(form.get("client_id"), "cm");
    assert.equal(form.get("service"), "svc");
    assert.deepEqual(form.getAll("scope"), ["repository:a:pull repository:b:pull"]);
    assert.equal(refreshTokenForm({ scheme: "bearer", params: { realm: "https://a/t" } }, [], "R").has("scope"), false);
  });

  test("token or access_token", () => {
    assert.equal(tokenFrom({ token: "t1" }), "t1");
    assert.equal(tokenFrom({ access_token: "t2" }), "t2");
    assert.equal(tokenFrom({ token: "" }), undefined);
    assert.equal(tokenFrom(null), undefined);
    assert.equal(tokenFrom("x"), undefined);
  });

  test("basic auth header", () => assert.equal(basicAuth("u", "p:w"), `Basic ${Buffer.from("u:p:w").toString("base64")}`));
});
