import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { endpointHost, formatReference, isLoopback, manifestSelector, parseReference } from "../../../src/image/reference.ts";

const D = `sha256:${"a".repeat(64)}`;

describe("parseReference: Docker's normalisation", () => {
  const cases: [string, string][] = [
    ["debian", "docker.io/library/debian:latest"],
    ["debian:bookworm", "docker.io/library/debian:bookworm"],
    ["library/debian:12", "docker.io/library/debian:12"],
    ["docker.io/debian", "docker.io/library/debian:latest"],
    ["index.docker.io/debian", "docker.io/library/debian:latest"],
    ["docker.io/library/debian", "docker.io/library/debian:latest"],
    ["owner/repo", "docker.io/owner/repo:latest"],
    ["owner/sub/repo:v1.2", "docker.io/owner/sub/repo:v1.2"],
    ["python:3.12-slim", "docker.io/library/python:3.12-slim"],
    ["ghcr.io/owner/repo:tag", "ghcr.io/owner/repo:tag"],
    ["quay.io/a/b/c", "quay.io/a/b/c:latest"],
    ["localhost/repo", "localhost/repo:latest"],
    ["localhost:5000/repo:1", "localhost:5000/repo:1"],
    ["127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest"],
    ["[::1]:5000/repo", "[::1]:5000/repo:latest"],
    ["Registry/repo", "Registry/repo:latest"],
    [`debian@${D}`, `docker.io/library/debian@${D}`],
    [`debian:12@${D}`, `docker.io/library/debian:12@${D}`],
    [`registry.example:443/repo@${D}`, `registry.example:443/repo@${D}`],
    ["my-registry.example/x_y/z__w/a-b.c", "my-registry.example/x_y/z__w/a-b.c:latest"],
  ];
  for (const [input, want] of cases) {
    test(`${input} -> ${want}`, () => assert.equal(formatReference(parseReference(input)), want));
  }

  test("fields", () => {
    assert.deepEqual(parseReference("localhost:5000/a/b:c"), {
      registry: "localhost:5000",
      repository: "a/b",
      tag: "c",
      digest: undefined,
    });
    assert.deepEqual(parseReference(`x@${D}`), { registry: "docker.io", repository: "library/x", tag: undefined, digest: D });
  });

  const bad = [
    "",
    "UPPER",
    "docker.io/UPPER/x",
    "debian:",
    "debian:bad tag",
    "debian:-x",
    `debian:${"t".repeat(129)}`,
    "debian@sha256:1234",
    `debian@md5:${"a".repeat(64)}`,
    `debian@sha256:${"A".repeat(64)}`,
    "a//b",
    "a/",
    "/a",
    "-a",
    "a..b",
    "host:99999/x",
    "host:0/x",
    "ex ample/x",
    "registry.example/",
    "bad_host.example/x",
    "[::1/x",
    `${"a".repeat(300)}`,
  ];
  for (const input of bad) {
    test(`refuses ${JSON.stringify(input.slice(0, 40))}`, () => {
      assert.throws(
        () => parseReference(input),
        (e: unknown) => e instanceof CmError && e.code === "bad-reference" && !e.message.includes("\n"),
      );
    });
  }

  test("the selector is the digest when there is one, else the tag", () => {
    assert.equal(manifestSelector(parseReference("a:b")), "b");
    assert.equal(manifestSelector(parseReference(`a:b@${D}`)), D);
  });

  test("Docker Hub's API endpoint is registry-1.docker.io; others as written", () => {
    assert.equal(endpointHost("docker.io"), "registry-1.docker.io");
    assert.equal(endpointHost("ghcr.io"), "ghcr.io");
    assert.equal(endpointHost("localhost:5000"), "localhost:5000");
  });

  test("loopback hosts", () => {
    for (const h of ["localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000", "[::1]"])
      assert.equal(isLoopback(h), true, h);
    for (const h of ["docker.io", "10.0.0.1:5000", "localhost.example", "127.0.0.1.example:5000", "[::2]:5000"])
      assert.equal(isLoopback(h), false, h);
  });
});
