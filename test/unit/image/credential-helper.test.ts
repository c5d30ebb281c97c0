import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { credentialsFrom, findHelper, parseHelperOutput, runCredentialHelper } from "../../../src/image/credential-helper.ts";
import type { Candidate } from "../../../src/image/credentials.ts";

describe("credential helper answers", () => {
  test("a JSON answer: user and secret; <token> makes the secret an identity token", () => {
    const ok = parseHelperOutput(0, null, '{"ServerURL":"quay.io","Username":"me","Secret":"pw"}\n', "");
    assert.deepEqual(ok, { kind: "found", username: "me", secret: "pw" });
    if (ok.kind !== "found") throw new Error("unreachable");
    assert.deepEqual(credentialsFrom(ok, "h"), { username: "me", password: "pw", source: "h" });
    assert.deepEqual(credentialsFrom({ username: "<token>", secret: "refresh" }, "h"), {
      username: "",
      password: "",
      identityToken: "refresh",
      source: "h",
    });
    // ServerURL is not needed
    assert.equal(parseHelperOutput(0, null, '{"Username":"u","Secret":"s"}', "").kind, "found");
    assert.deepEqual(parseHelperOutput(0, null, '{"Username":"","Secret":""}', ""), { kind: "not-found" });
  });

  test("not found: a non-zero exit saying so, on stdout or stderr", () => {
    assert.deepEqual(parseHelperOutput(1, null, "credentials not found in native keychain\n", ""), { kind: "not-found" });
    assert.deepEqual(parseHelperOutput(1, null, "", "Credentials not found\n"), { kind: "not-found" });
  });

  test("failures name what happened and never repeat a JSON answer (it may hold the secret)", () => {
    const crash = parseHelperOutput(null, "SIGSEGV", "", "");
    assert.equal(crash.kind === "failed" && crash.reason, "was killed by SIGSEGV");
    const said = parseHelperOutput(3, null, "", "gpg: decryption failed: No secret key\nmore\n");
    assert.equal(said.kind === "failed" && said.reason, "exited with status 3: gpg: decryption failed: No secret key");
    const leaky = parseHelperOutput(1, null, '{"Username":"u","Secret":"TOPSECRET"}', "");
    assert.equal(leaky.kind, "failed");
    assert.ok(!JSON.stringify(leaky).includes("TOPSECRET"));
    for (const out of ["garbage TOPSECRET", "", "[]", "null", '{"Username":"u"}', '{"Username":"u","Secret":5}']) {
      const r = parseHelperOutput(0, null, out, "");
      assert.equal(r.kind, "failed", out);
      assert.ok(!JSON.stringify(r).includes("TOPSECRET"), out);
    }
    assert.equal(parseHelperOutput(0, null, '{"Username":"<token>","Secret":""}', "").kind, "failed");
  });
});

describe("running a credential helper (real programs)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-helper-unit-"));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  after(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string) => {
    const path = join(bin, `docker-credential-${name}`);
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
  };
  const candidate = (helper: string): Extract<Candidate, { kind: "helper" }> => ({
    kind: "helper",
    helper,
    server: "reg.example:5000",
    setting: "credHelpers in /auth.json",
    registry: "reg.example:5000",
  });
  const env = { PATH: `relative:${bin}:/usr/bin:/bin` };
  const fails = (pattern: RegExp) => (e: unknown) =>
    e instanceof CmError && pattern.test(e.message) && !e.message.includes("\n") && !e.message.includes("TOPSECRET");

  test("found on PATH (absolute entries only); a directory or a plain file is not a helper", () => {
    script("found", "true");
    assert.equal(findHelper("docker-credential-found", env.PATH), join(bin, "docker-credential-found"));
    assert.equal(findHelper("docker-credential-found", "bin:/nonexistent"), undefined);
    mkdirSync(join(bin, "docker-credential-dir"));
    writeFileSync(join(bin, "docker-credential-plain"), "#!/bin/sh\n");
    assert.equal(findHelper("docker-credential-dir", env.PATH), undefined);
    assert.equal(findHelper("docker-credential-plain", env.PATH), undefined);
  });

  test("get: the server address on stdin, the answer on stdout", async () => {
    script("good", `cat > "${dir}/asked"; echo '{"ServerURL":"x","Username":"alice","Secret":"pw"}'`);
    const c = await runCredentialHelper(candidate("good"), env);
    assert.deepEqual(c, { username: "alice", password: "pw", source: "docker-credential-good (credHelpers in /auth.json)" });
    assert.equal(readFileSync(join(dir, "asked"), "utf8"), "reg.example:5000");
  });

  test("not found is no credentials; a helper that does not read its input still works", async () => {
    script("none", "echo 'credentials not found in native keychain'; exit 1");
    assert.equal(await runCredentialHelper(candidate("none"), env), undefined);
  });

  test("missing, crashing, garbage, silent, too talkative: one-line errors naming the helper", async () => {
    await assert.rejects(runCredentialHelper(candidate("absent"), env), fails(/docker-credential-absent .*is not on PATH/));
    script("crash", "kill -SEGV $$");
    await assert.rejects(runCredentialHelper(candidate("crash"), env), fails(/docker-credential-crash .*killed by SIGSEGV/));
    script("garbage", "echo 'TOPSECRET is not json'");
    await assert.rejects(runCredentialHelper(candidate("garbage"), env), fails(/docker-credential-garbage .*not JSON/));
    script("slow", "exec sleep 30");
    await assert.rejects(runCredentialHelper(candidate("slow"), env, { timeoutMs: 300 }), fails(/gave no answer .* within 300 ms/));
    script("talkative", "exec yes TOPSECRET");
    await assert.rejects(runCredentialHelper(candidate("talkative"), env), fails(/more than 1 MiB/));
  });
});
