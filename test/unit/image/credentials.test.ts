import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { authFilePaths, findCredentials, normaliseKey } from "../../../src/image/credentials.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const file = (path: string, auths: Record<string, unknown>) => ({ path, text: JSON.stringify({ auths }) });

describe("registry credentials", () => {
  test("the files, in order", () => {
    assert.deepEqual(authFilePaths({ REGISTRY_AUTH_FILE: "/a.json", XDG_RUNTIME_DIR: "/run/user/1" }, "/home/u"), [
      "/a.json",
      "/run/user/1/containers/auth.json",
      "/home/u/.docker/config.json",
    ]);
    assert.deepEqual(authFilePaths({ DOCKER_CONFIG: "/d", XDG_RUNTIME_DIR: "relative" }, "/h"), ["/d/config.json"]);
  });

  test("keys: URLs and Docker Hub aliases", () => {
    assert.equal(normaliseKey("https://index.docker.io/v1/"), "docker.io");
    assert.equal(normaliseKey("registry-1.docker.io"), "docker.io");
    assert.equal(normaliseKey("http://localhost:5000"), "localhost:5000");
    assert.equal(normaliseKey("quay.io/org"), "quay.io/org");
  });

  test("first file with a match wins; the most specific key wins within a file", () => {
    const files = [
      file("/1", { "other.io": { auth: b64("x:y") } }),
      file("/2", { "quay.io": { auth: b64("all:1") }, "quay.io/org": { auth: b64("org:2") }, "quay.io/org/repo": { auth: b64("repo:3") } }),
      file("/3", { "quay.io": { auth: b64("late:4") } }),
    ];
    assert.deepEqual(findCredentials(files, "quay.io", "org/repo"), { username: "repo", password: "3", source: "/2" });
    assert.deepEqual(findCredentials(files, "quay.io", "org/other"), { username: "org", password: "2", source: "/2" });
    assert.deepEqual(findCredentials(files, "quay.io", "else/x"), { username: "all", password: "1", source: "/2" });
    assert.equal(findCredentials(files, "ghcr.io", "a"), undefined);
    assert.equal(findCredentials(files, "quay.io", "organisation/x")?.username, "all");
  });

  test("Docker Hub under its URL key; passwords may contain colons", () => {
    const files = [file("/c", { "https://index.docker.io/v1/": { auth: b64("me:pa:ss") } })];
    assert.deepEqual(findCredentials(files, "docker.io", "library/debian"), { username: "me", password: "pa:ss", source: "/c" });
  });

  test("entries without auth (credential helpers) are skipped; bad files are one-line errors", () => {
    assert.equal(
      findCredentials([{ path: "/h", text: JSON.stringify({ credsStore: "desktop", auths: { "docker.io": {} } }) }], "docker.io", "x"),
      undefined,
    );
    assert.throws(
      () => findCredentials([{ path: "/bad", text: "{" }], "docker.io", "x"),
      (e: unknown) => e instanceof CmError && /\/bad/.test(e.message),
    );
    assert.throws(() => findCredentials([file("/m", { "docker.io": { auth: b64("nocolon") } })], "docker.io", "x"), CmError);
  });
});
