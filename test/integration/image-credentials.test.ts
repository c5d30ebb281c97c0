/**
 * Registry credentials from Docker credential helpers (credHelpers, credsStore): real helper
 * programs (small /bin/sh scripts speaking the docker-credential-helpers protocol, written by each
 * test into a directory put on cm's PATH) in front of real registries on loopback: Debian's
 * docker-registry with htpasswd basic auth, and the test token proxy (bearer tokens for a user, and
 * OAuth2 refresh tokens for identity tokens). Root and rootless.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { assertNothingLeft, cmAsync, fixtures, isOneLineError, type Result, type Sandbox, sandbox, USERS } from "../helpers/cm.ts";
import { Layout, treeEntries } from "../helpers/oci.ts";
import { push, type Registry, startRegistry, startTokenProxy, type TokenProxy } from "../helpers/registry.ts";

const ALICE = { user: "alice", password: "s3cret-pw" };
const REFRESH = "refresh-tok-7f3a";
let plain: Registry;
let basic: Registry;
let authed: TokenProxy;
let oauth: TokenProxy;

before(async () => {
  const run = process.env.CM_TEST_RUN as string;
  const layoutDir = join(run, `oci-creds-${process.pid}`);
  const l = new Layout(layoutDir);
  l.tag(
    l.image({
      layers: [{ entries: treeEntries(fixtures.busybox) }, { entries: [{ path: "private-marker", content: "private\n" }] }],
    }),
    "app",
  );
  execFileSync("chmod", ["-R", "a+rX", layoutDir]);
  plain = await startRegistry();
  basic = await startRegistry({ htpasswd: ALICE });
  authed = await startTokenProxy(plain.host, { creds: ALICE });
  oauth = await startTokenProxy(plain.host, { creds: ALICE, refreshToken: REFRESH });
  push(layoutDir, "app", `${plain.host}/test/app:v1`);
  push(layoutDir, "app", `${basic.host}/private/app:v1`, { creds: `${ALICE.user}:${ALICE.password}` });
});

after(async () => {
  await Promise.all([authed?.stop(), oauth?.stop()]);
  await Promise.all([plain?.stop(), basic?.stop()]);
});

/** cm, run without blocking this process (the token proxies run in it). */
const cm = cmAsync;

/** No secret in anything cm printed. */
function assertNoSecret(r: Result): void {
  for (const secret of [ALICE.password, REFRESH]) {
    assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `a secret was printed: ${r.stderr}`);
  }
}

/**
 * A directory of helper programs for the sandbox's user, and the PATH that puts it first. Each
 * helper records what it was asked in `asked` in that directory.
 */
function helpers(sb: Sandbox): { dir: string; env: Record<string, string>; asked(): string[] } {
  const dir = sb.mkdir("helpers");
  const write = (name: string, body: string) => {
    const path = join(dir, `docker-credential-${name}`);
    writeFileSync(path, `#!/bin/sh\n[ "$1" = get ] || exit 2\nserver=$(cat)\necho "$server" >> "${dir}/asked"\n${body}\n`);
    chmodSync(path, 0o755);
    chownSync(path, sb.uid, sb.gid);
  };
  // knows alice for the basic-auth registry and the bearer proxy, an identity token for the OAuth proxy
  write(
    "cmtest",
    `case "$server" in
  ${basic.host}|${authed.host}) printf '{"ServerURL":"%s","Username":"${ALICE.user}","Secret":"${ALICE.password}"}\\n' "$server" ;;
  ${oauth.host}) printf '{"ServerURL":"%s","Username":"<token>","Secret":"${REFRESH}"}\\n' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac`,
  );
  write("cmnone", 'echo "credentials not found in native keychain"; exit 1');
  write("cmcrash", 'echo "about to crash" >&2; kill -SEGV $$');
  write("cmgarbage", `echo "Username ${ALICE.user} Secret ${ALICE.password} (not JSON)"`);
  return {
    dir,
    env: { PATH: `${dir}:/usr/local/bin:/usr/bin:/bin` },
    asked: () => (existsSync(join(dir, "asked")) ? readFileSync(join(dir, "asked"), "utf8").split("\n").filter(Boolean) : []),
  };
}

function dockerConfig(sb: Sandbox, config: unknown): void {
  mkdirSync(join(sb.home, ".docker"), { recursive: true });
  writeFileSync(join(sb.home, ".docker/config.json"), JSON.stringify(config));
  execFileSync("chown", ["-R", `${sb.uid}:${sb.gid}`, join(sb.home, ".docker")]);
}

function authFile(sb: Sandbox, config: unknown): string {
  const file = join(sb.mkdir("auth"), "auth.json");
  writeFileSync(file, JSON.stringify(config));
  chownSync(file, sb.uid, sb.gid);
  return file;
}

for (const as of USERS) {
  describe(`credential helpers (${as})`, () => {
    test("credHelpers: basic auth through docker-credential-cmtest, which wins over the same file's auths; asked for the registry host", async () => {
      const sb = sandbox(as);
      const h = helpers(sb);
      const wrong = Buffer.from("alice:wrong").toString("base64");
      dockerConfig(sb, { auths: { [basic.host]: { auth: wrong } }, credHelpers: { [basic.host]: "cmtest" } });
      const r = await cm(sb, ["create", "--from", `image:${basic.host}/private/app:v1`], h.env);
      assert.equal(r.status, 0, r.stderr);
      assertNoSecret(r);
      assert.deepEqual(h.asked(), [basic.host]);
      const cat = await cm(sb, ["run", "--", "cat", "/private-marker"]);
      assert.equal(cat.stdout, "private\n", cat.stderr);
    });

    test("credsStore in REGISTRY_AUTH_FILE: a bearer token for the helper's user; a registry that asks nothing never runs it", async () => {
      const sb = sandbox(as);
      const h = helpers(sb);
      const file = authFile(sb, { credsStore: "cmtest" });
      authed.tokens.length = 0;
      const r = await cm(sb, ["create", "--from", `image:${authed.host}/test/app:v1`], { ...h.env, REGISTRY_AUTH_FILE: file });
      assert.equal(r.status, 0, r.stderr);
      assertNoSecret(r);
      assert.ok(
        authed.tokens.some((t) => t.user === ALICE.user),
        JSON.stringify(authed.tokens),
      );
      assert.deepEqual(h.asked(), [authed.host]);
      const open = await cm(sb, ["create", "open", "--from", `image:${plain.host}/test/app:v1`], { ...h.env, REGISTRY_AUTH_FILE: file });
      assert.equal(open.status, 0, open.stderr);
      assert.deepEqual(h.asked(), [authed.host]);
    });

    test("an identity token (Username <token>) is exchanged at the token endpoint with an OAuth2 refresh-token POST", async () => {
      const sb = sandbox(as);
      const h = helpers(sb);
      dockerConfig(sb, { credHelpers: { [oauth.host]: "cmtest" } });
      oauth.tokens.length = 0;
      const r = await cm(sb, ["create", "--from", `image:${oauth.host}/test/app:v1`], h.env);
      assert.equal(r.status, 0, r.stderr);
      assertNoSecret(r);
      assert.deepEqual(
        oauth.tokens.map((t) => t.user),
        ["<refresh-token>"],
      );
      assert.ok(oauth.tokens[0]?.scope.split(" ").includes("repository:test/app:pull"), JSON.stringify(oauth.tokens));
      assert.equal((await cm(sb, ["run", "--", "cat", "/private-marker"])).stdout, "private\n");
    });

    test("a helper that has no credentials: the next file is searched, then the pull is anonymous and refused clearly", async () => {
      const sb = sandbox(as);
      const h = helpers(sb);
      // the first file's helper knows nothing; the second file has the credentials
      const good = Buffer.from(`${ALICE.user}:${ALICE.password}`).toString("base64");
      const file = authFile(sb, { credHelpers: { [basic.host]: "cmnone" } });
      dockerConfig(sb, { auths: { [basic.host]: { auth: good } } });
      const r = await cm(sb, ["create", "--from", `image:${basic.host}/private/app:v1`], { ...h.env, REGISTRY_AUTH_FILE: file });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(h.asked(), [basic.host]);
      // nothing anywhere: anonymous, and the registry says no
      dockerConfig(sb, { credsStore: "cmnone" });
      const denied = await cm(sb, ["create", "again", "--from", `image:${basic.host}/private/app:v1`], h.env);
      assert.equal(denied.status, 125);
      assert.ok(isOneLineError(denied.stderr), denied.stderr);
      assert.match(denied.stderr, /access denied by the registry \(/);
      const bundles = readdirSync(sb.env.CM_HOME as string).flatMap((k) =>
        readdirSync(join(sb.env.CM_HOME as string, k)).filter((n) => !n.startsWith(".")),
      );
      assert.deepEqual(bundles, ["default"]);
    });

    test("a helper missing from PATH, crashing, answering garbage or named by a path: one-line errors naming it; nothing created", async () => {
      const sb = sandbox(as);
      const h = helpers(sb);
      const cases: [unknown, RegExp][] = [
        [{ credsStore: "absent" }, /docker-credential-absent \(credsStore in .*config\.json\) is not on PATH/],
        [
          { credHelpers: { [basic.host]: "cmcrash" } },
          /docker-credential-cmcrash \(credHelpers in .*\) failed for 127\.0\.0\.1:\d+: it was killed by SIGSEGV/,
        ],
        [{ credHelpers: { [basic.host]: "cmgarbage" } }, /docker-credential-cmgarbage .* answered something that is not JSON/],
        [{ credHelpers: { [basic.host]: "../../bin/sh" } }, /names the credential helper "..\/..\/bin\/sh", which is not a helper name/],
      ];
      for (const [config, pattern] of cases) {
        dockerConfig(sb, config);
        const r = await cm(sb, ["create", "--from", `image:${basic.host}/private/app:v1`], h.env);
        assert.equal(r.status, 125, r.stderr);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, pattern);
        assertNoSecret(r);
        assertNothingLeft(sb);
      }
    });
  });
}
