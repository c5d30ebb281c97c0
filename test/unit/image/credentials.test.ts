import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import {
  authFilePaths,
  type Candidate,
  checkHelperName,
  credentialPlan,
  findCredentials,
  helperServer,
  normaliseKey,
  resolveCredentials,
} from "../../../src/image/credentials.ts";

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

  test("identity tokens stored in auths entries", () => {
    const files = [{ path: "/i", text: JSON.stringify({ auths: { "acr.example": { identitytoken: "refresh-1" } } }) }];
    assert.deepEqual(findCredentials(files, "acr.example", "x"), { username: "", password: "", identityToken: "refresh-1", source: "/i" });
    const both = [{ path: "/b", text: JSON.stringify({ auths: { "acr.example": { auth: b64("u:p"), identitytoken: "r" } } }) }];
    assert.deepEqual(findCredentials(both, "acr.example", "x"), { username: "u", password: "p", identityToken: "r", source: "/b" });
  });
});

const doc = (path: string, d: Record<string, unknown>) => ({ path, text: JSON.stringify(d) });
const helper = (name: string, setting: string, registry: string, server = registry): Candidate => ({
  kind: "helper",
  helper: name,
  server,
  setting,
  registry,
});

describe("credential helpers in auth files", () => {
  test("within a file: credHelpers for the registry, else credsStore, else auths (Docker's order)", () => {
    const f = doc("/c", {
      auths: { "quay.io": { auth: b64("file:pw") }, "ghcr.io": { auth: b64("g:pw") } },
      credHelpers: { "quay.io": "quayhelper", "https://index.docker.io/v1/": "hub" },
      credsStore: "store",
    });
    assert.deepEqual(credentialPlan([f], "quay.io", "org/repo"), [helper("quayhelper", "credHelpers in /c", "quay.io")]);
    // auths entries of a file with a credsStore are placeholders: the store decides
    assert.deepEqual(credentialPlan([f], "ghcr.io", "a/b"), [helper("store", "credsStore in /c", "ghcr.io")]);
    // Docker Hub: the helper is asked for Docker's server address
    assert.deepEqual(credentialPlan([f], "docker.io", "library/debian"), [
      helper("hub", "credHelpers in /c", "docker.io", "https://index.docker.io/v1/"),
    ]);
    const noStore = doc("/n", { auths: { "quay.io": { auth: b64("file:pw") } }, credHelpers: { "ghcr.io": "gh" } });
    assert.deepEqual(credentialPlan([noStore], "quay.io", "x"), [
      { kind: "stored", credentials: { username: "file", password: "pw", source: "/n" } },
    ]);
    // an empty credsStore is no store
    assert.deepEqual(credentialPlan([doc("/e", { credsStore: "" })], "quay.io", "x"), []);
  });

  test("helper keys: host names and URLs, not namespaces", () => {
    for (const key of ["docker.io", "index.docker.io", "https://index.docker.io/v1/", "registry-1.docker.io"]) {
      assert.equal(credentialPlan([doc("/k", { credHelpers: { [key]: "h" } })], "docker.io", "library/x").length, 1, key);
    }
    assert.equal(credentialPlan([doc("/k", { credHelpers: { "localhost:5000": "h" } })], "localhost:5000", "x").length, 1);
    assert.equal(credentialPlan([doc("/k", { credHelpers: { "localhost:5001": "h" } })], "localhost:5000", "x").length, 0);
    assert.equal(credentialPlan([doc("/k", { credHelpers: { "quay.io/org": "h" } })], "quay.io", "org/x").length, 0);
  });

  test("across files: helpers in order until stored credentials; later files are not read past them", () => {
    const files = [
      doc("/1", { credHelpers: { "quay.io": "first" } }),
      doc("/2", { auths: { "other.io": { auth: b64("o:p") } } }),
      doc("/3", { credsStore: "third" }),
      doc("/4", { auths: { "quay.io": { auth: b64("four:p") } } }),
      doc("/5", { credsStore: "never" }),
    ];
    const plan = credentialPlan(files, "quay.io", "x");
    assert.deepEqual(
      plan.map((c) => (c.kind === "helper" ? c.helper : c.credentials.username)),
      ["first", "third", "four"],
    );
    assert.deepEqual(
      credentialPlan([doc("/a", { auths: { "quay.io": { auth: b64("a:p") } } }), files[0] as never], "quay.io", "x").length,
      1,
    );
  });

  test("helper names are program suffixes, never paths", () => {
    for (const ok of ["pass", "secretservice", "ecr-login", "gcloud", "desktop.exe", "a_b"]) assert.equal(checkHelperName(ok, "s"), ok);
    for (const bad of ["../../bin/sh", "/usr/bin/x", "a b", "", ".", "..", "x;y", 3, null, "$(id)"]) {
      assert.throws(
        () => checkHelperName(bad, "credsStore in /f"),
        (e: unknown) => e instanceof CmError && e.message.includes("credsStore in /f") && !e.message.includes("\n"),
        String(bad),
      );
    }
    assert.throws(() => credentialPlan([doc("/p", { credHelpers: { "quay.io": "../x" } })], "quay.io", "x"), CmError);
    // a bad name for another registry does not matter
    assert.deepEqual(credentialPlan([doc("/p", { credHelpers: { "ghcr.io": "../x" } })], "quay.io", "x"), []);
  });

  test("the server a helper is asked for", () => {
    assert.equal(helperServer("docker.io"), "https://index.docker.io/v1/");
    assert.equal(helperServer("127.0.0.1:5000"), "127.0.0.1:5000");
    assert.equal(helperServer("ghcr.io"), "ghcr.io");
  });

  test("resolving a plan: stored credentials without running anything; no plan is anonymous", async () => {
    const creds = { username: "u", password: "p", source: "/f" };
    assert.deepEqual(await resolveCredentials([{ kind: "stored", credentials: creds }], {}), creds);
    assert.equal(await resolveCredentials([], {}), undefined);
  });
});
