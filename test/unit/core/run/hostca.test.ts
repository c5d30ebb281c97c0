import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  formatPem,
  HOST_CA_BUNDLE,
  hostCaAptConf,
  hostCaEnv,
  missingCertificates,
  pemCertificates,
  unionCertificates,
} from "../../../../src/core/run/hostca.ts";

const A = "MIIBAAAA".repeat(20);
const B = "MIIBBBBB".repeat(20);
const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body.slice(0, 64)}\n${body.slice(64)}\n-----END CERTIFICATE-----\n`;

describe("pemCertificates", () => {
  test("certificate blocks only, whitespace removed; keys, trusted certificates and text dropped", () => {
    const text = `# comment\n${pem(A)}junk\n-----BEGIN PRIVATE KEY-----\nMIIsecret\n-----END PRIVATE KEY-----\n${pem(B)}-----BEGIN TRUSTED CERTIFICATE-----\nMIIx\n-----END TRUSTED CERTIFICATE-----\n`;
    assert.deepEqual(pemCertificates(text), [A, B]);
  });
  test("CRLF line ends and no trailing newline", () => {
    assert.deepEqual(pemCertificates(pem(A).replaceAll("\n", "\r\n").trimEnd()), [A]);
  });
  test("nothing: an empty list", () => {
    assert.deepEqual(pemCertificates("root:x:0:0::/root:/bin/sh\n"), []);
  });
});

describe("formatPem / unionCertificates / missingCertificates", () => {
  test("round trip, 64-character lines", () => {
    const out = formatPem([A, B]);
    assert.deepEqual(pemCertificates(out), [A, B]);
    assert.ok(out.split("\n").every((l) => l.length <= 64));
  });
  test("union keeps order and drops duplicates; missing is host minus store", () => {
    assert.deepEqual(unionCertificates([A, B], [B, A, "C"]), [A, B, "C"]);
    assert.deepEqual(missingCertificates([A, B, A], [B]), [A]);
    assert.deepEqual(missingCertificates([A], [A, B]), []);
  });
});

describe("hostCaEnv", () => {
  test("every TLS stack's variable points at the one combined bundle; apt through APT_CONFIG", () => {
    const env = Object.fromEntries(hostCaEnv().map((e) => e.split("=")));
    for (const k of ["SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO"]) {
      assert.equal(env[k], HOST_CA_BUNDLE, k);
    }
    assert.equal(env.APT_CONFIG, "/run/cm/ca/apt.conf");
    assert.match(hostCaAptConf(), /^Acquire::https::CaInfo "\/run\/cm\/ca\/ca-certificates\.crt";$/m);
  });
});
