import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bypassesProxy, hostProxyEnv, PROXY_VARS } from "../../../../src/core/run/proxy.ts";

describe("hostProxyEnv", () => {
  test("passes exactly the proxy variables that are set, both spellings, nothing else", () => {
    const r = hostProxyEnv({
      HTTP_PROXY: "http://p:3128",
      https_proxy: "http://q:3128",
      NO_PROXY: "localhost,.corp",
      HOME: "/home/u",
      SSH_AUTH_SOCK: "/tmp/agent",
      ALL_PROXY: "socks5://x",
      FTP_PROXY: "",
    });
    assert.deepEqual(r.vars, ["HTTP_PROXY=http://p:3128", "NO_PROXY=localhost,.corp", "https_proxy=http://q:3128"]);
  });

  test("no proxy set: nothing", () => {
    assert.deepEqual(hostProxyEnv({ PATH: "/bin" }), { vars: [], upstream: { noProxy: [] } });
  });

  test("upstream per scheme: lower case wins over upper case; NO_PROXY split and trimmed", () => {
    const r = hostProxyEnv({
      HTTP_PROXY: "http://upper:1",
      http_proxy: "http://lower:2",
      HTTPS_PROXY: "http://s:3",
      ftp_proxy: "http://f:4",
      no_proxy: " a.example , ,10.0.0.0/8 ",
      NO_PROXY: "ignored",
    });
    assert.deepEqual(r.upstream, { http: "http://lower:2", https: "http://s:3", ftp: "http://f:4", noProxy: ["a.example", "10.0.0.0/8"] });
  });

  test("the list is Podman's: four names, both cases", () => {
    assert.equal(PROXY_VARS.length, 8);
    for (const n of ["HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY"]) {
      assert.ok(PROXY_VARS.includes(n as (typeof PROXY_VARS)[number]));
      assert.ok(PROXY_VARS.includes(n.toLowerCase() as (typeof PROXY_VARS)[number]));
    }
  });
});

describe("bypassesProxy", () => {
  const list = ["localhost", ".corp.example", "example.org", "10.0.0.0/8", "192.168.1.5", "svc:8080", "[::1]"];
  test("names, subdomains with or without a leading dot, case-insensitive", () => {
    assert.equal(bypassesProxy(list, "localhost"), true);
    assert.equal(bypassesProxy(list, "git.corp.example"), true);
    assert.equal(bypassesProxy(list, "corp.example"), true);
    assert.equal(bypassesProxy(list, "WWW.Example.ORG"), true);
    assert.equal(bypassesProxy(list, "notexample.org"), false);
    assert.equal(bypassesProxy(list, "registry.npmjs.org"), false);
  });
  test("IPs, IPv4 CIDRs, bracketed IPv6, ports", () => {
    assert.equal(bypassesProxy(list, "10.1.2.3"), true);
    assert.equal(bypassesProxy(list, "11.1.2.3"), false);
    assert.equal(bypassesProxy(list, "192.168.1.5"), true);
    assert.equal(bypassesProxy(list, "::1"), true);
    assert.equal(bypassesProxy(list, "svc", 8080), true);
    assert.equal(bypassesProxy(list, "svc", 443), false);
  });
  test("* matches everything; an empty list nothing", () => {
    assert.equal(bypassesProxy(["*"], "anything"), true);
    assert.equal(bypassesProxy([], "anything"), false);
  });
});
