import assert from "node:assert/strict";
import { test } from "node:test";
import {
  addressAllowed,
  isInternalAddress,
  matchHost,
  parseAddress,
  parseAllowHost,
  proxyEnv,
} from "../../../../src/core/run/allowhost.ts";
import { CmError } from "../../../../src/errors.ts";

test("patterns: names, wildcards, ports, addresses", () => {
  assert.deepEqual(parseAllowHost("Example.COM."), {
    host: "example.com",
    wildcard: false,
    address: false,
    port: undefined,
    text: "Example.COM.",
  });
  assert.deepEqual(parseAllowHost("*.example.com:8443"), {
    host: "example.com",
    wildcard: true,
    address: false,
    port: 8443,
    text: "*.example.com:8443",
  });
  assert.equal(parseAllowHost("127.0.0.1:80").address, true);
  assert.deepEqual(parseAllowHost("[::1]:443"), { host: "::1", wildcard: false, address: true, port: 443, text: "[::1]:443" });
  assert.equal(parseAllowHost("::1").port, undefined);
  for (const bad of [
    "",
    "*",
    "*.com",
    "a..b",
    "-a.com",
    "a.com:0",
    "a.com:70000",
    "a.com:x",
    "[::1",
    "[1.2.3.4]",
    "a/b",
    "*.*.a.com",
    "a b",
  ]) {
    assert.throws(() => parseAllowHost(bad), CmError, bad);
  }
});

test("matching: exact names, subdomains only for wildcards, default ports 80 and 443", () => {
  const pats = ["github.com", "*.githubusercontent.com", "repo.test:8080", "10.1.2.3"].map((p) => parseAllowHost(p));
  assert.ok(matchHost(pats, "GitHub.com", 443));
  assert.ok(matchHost(pats, "github.com.", 80));
  assert.equal(matchHost(pats, "github.com", 22), undefined);
  assert.equal(matchHost(pats, "api.github.com", 443), undefined);
  assert.equal(matchHost(pats, "evilgithub.com", 443), undefined);
  assert.ok(matchHost(pats, "raw.githubusercontent.com", 443));
  assert.equal(matchHost(pats, "githubusercontent.com", 443), undefined);
  assert.equal(matchHost(pats, "x.evilgithubusercontent.com", 443), undefined);
  assert.ok(matchHost(pats, "repo.test", 8080));
  assert.equal(matchHost(pats, "repo.test", 80), undefined);
  assert.ok(matchHost(pats, "10.1.2.3", 443));
  assert.equal(matchHost(pats, "10.1.2.4", 443), undefined);
  // an address literal never matches a name pattern, nor a name an address pattern
  assert.equal(matchHost([parseAllowHost("*.1.2.3")], "4.1.2.3", 443), undefined);
  assert.ok(matchHost([parseAllowHost("[::ffff:7f00:1]")], "127.0.0.1", 80));
});

test("internal addresses: loopback, private, link-local, CGNAT, ULA, mapped, unspecified", () => {
  for (const a of [
    "127.0.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fd00::1",
    "fc00::",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",
    "ff02::1",
    // IPv4 inside IPv6 that a host may route to IPv4 (red team)
    "::127.0.0.1",
    "::7f00:1",
    "::a00:1",
    "2002:7f00:1::1",
    "2002:c0a8:101::",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "64:ff9b:1::a00:1",
    "100::1",
  ]) {
    assert.equal(isInternalAddress(a), true, a);
  }
  for (const a of ["1.1.1.1", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "2002:808:808::1"]) {
    assert.equal(isInternalAddress(a), false, a);
  }
  assert.equal(isInternalAddress("not an address"), true);
  assert.deepEqual(parseAddress("::ffff:1.2.3.4"), [1, 2, 3, 4]);
  assert.equal(parseAddress("2001:db8::1")?.length, 16);
});

test("a name resolving to an internal address needs that address allowed, on that port", () => {
  assert.equal(addressAllowed([parseAllowHost("x.test")], "127.0.0.1", 80), false);
  assert.equal(addressAllowed([parseAllowHost("127.0.0.1:8080")], "127.0.0.1", 80), false);
  assert.equal(addressAllowed([parseAllowHost("127.0.0.1:8080")], "127.0.0.1", 8080), true);
  assert.equal(addressAllowed([], "93.184.215.14", 443), true);
});

test("proxy variables in both spellings, loopback excluded", () => {
  const env = proxyEnv(3128);
  for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"]) assert.ok(env.includes(`${k}=http://127.0.0.1:3128`));
  assert.ok(env.includes("NO_PROXY=localhost,127.0.0.1,::1"));
});
