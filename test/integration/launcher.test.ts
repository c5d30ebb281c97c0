/**
 * The launcher (dist/main.js, scripts/build.ts): the bundle is compiled with a V8 code cache that a
 * successful command wrote at its exit, one file per command and build in cm's cache directory.
 * A missing, damaged or empty cache is never an error: cm compiles and writes it again.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, sandbox, USERS } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`the launcher's code cache (${as})`, () => {
    const sb = sandbox(as);
    // its own state directory (where the code cache lives): the shared one is used by other test files at the same time
    const env = { CM_STATE_DIR: sb.mkdir("launcher-state") };
    chmodSync(env.CM_STATE_DIR, 0o700);
    const dir = join(env.CM_STATE_DIR, "code-cache");
    const runCache = (): string | undefined => {
      const names = existsSync(dir) ? readdirSync(dir).filter((n) => /^[0-9a-f]{16}-run$/.test(n)) : [];
      assert.ok(names.length <= 1, `one run cache per build: ${names.join(", ")}`);
      return names[0] === undefined ? undefined : join(dir, names[0]);
    };
    const plant = (file: string, data: Buffer): void => {
      writeFileSync(file, data, { mode: 0o600 });
      chownSync(file, sb.uid, sb.gid);
    };

    test("setup: a busybox bundle", () => {
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`], { env });
      assert.equal(r.status, 0, r.stderr);
    });

    test("--help and a failing run write no cache", () => {
      assert.equal(sb.cm(["run", "--help"], { env }).status, 0);
      assert.equal(sb.cm(["run", "--", "sh", "-c", "exit 3"], { env }).status, 3);
      assert.equal(runCache(), undefined);
    });

    test("the first successful run writes it (0600, the user's), later runs keep it", () => {
      const r = sb.cm(["run", "--", "true"], { env });
      assert.equal(r.status, 0, r.stderr);
      const file = runCache();
      assert.ok(file, `no run cache in ${dir}`);
      const st = statSync(file);
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(st.uid, sb.uid);
      assert.ok(st.size > 10_000, `a cache of the run path, not ${st.size} bytes`);
      const before = readFileSync(file);
      const again = sb.cm(["run", "--", "sh", "-c", "echo again"], { env });
      assert.equal(again.status, 0, again.stderr);
      assert.equal(again.stdout, "again\n");
      assert.deepEqual(readFileSync(file), before);
      assert.deepEqual(
        readdirSync(dir).filter((n) => !/^[0-9a-f]{16}-[a-z_]+$/.test(n)),
        [],
        "no temporary files left",
      );
    });

    test("a damaged or empty cache is rewritten, the run is unaffected", () => {
      const file = runCache() as string;
      for (const bad of [randomBytes(3000), Buffer.alloc(0)]) {
        plant(file, bad);
        const r = sb.cm(["run", "--", "sh", "-c", "echo ok; exit 0"], { env });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "ok\n");
        assert.equal(r.stderr, "");
        assert.ok(statSync(file).size > 10_000, "written again");
      }
    });

    test("writing a cache removes other builds' files", () => {
      const file = runCache() as string;
      const old = join(dir, "0000000000000000-run");
      plant(old, randomBytes(100));
      plant(file, Buffer.alloc(0));
      assert.equal(sb.cm(["run", "--", "true"], { env }).status, 0);
      assert.equal(existsSync(old), false);
      assert.ok(statSync(file).size > 10_000);
    });
  });
}
