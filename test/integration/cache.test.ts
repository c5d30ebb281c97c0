/**
 * debian sources and the base cache, with real bootstraps (mmdebstrap; debootstrap as root):
 * concurrent cold creates bootstrap once, warm creates copy, --refresh rebuilds, --packages, an
 * interrupted fill leaves nothing taken as complete, `cm cache list/prune`, and apt inside.
 * Each group uses a cache directory of its own, empty at the start.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { finished, fixtures, isOneLineError, type Sandbox, sandbox, USERS, waitFor } from "../helpers/cm.ts";

/**
 * The suffix a rootless base key gets in range mode (the test user has a subordinate range: its
 * bases are shifted into it, so the key names the mapping); none as root.
 */
function idsSuffix(sb: Sandbox): string {
  if (sb.as === "root") return "";
  const range = (file: string, id: number) => {
    const [, start, count] = (
      readFileSync(file, "utf8")
        .split("\n")
        .find((l) => l.startsWith(`${fixtures.user}:`)) ?? ""
    ).split(":");
    return `${id}-${start}x${count}`;
  };
  return `-u${range("/etc/subuid", sb.uid)}-g${range("/etc/subgid", sb.gid)}`;
}

interface Base {
  key: string;
  source: string;
  tool: string;
  created: string;
  sizeBytes: number;
  dir: string;
}

function cacheList(sb: Sandbox, cache: string): Base[] {
  const r = sb.cm(["cache", "list", "--json"], { env: { CM_CACHE_DIR: cache } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Base[];
}

for (const as of USERS) {
  describe(`debian sources and the base cache (${as})`, () => {
    const sb = sandbox(as);
    const IDS = idsSuffix(sb);
    const KEY = `debian-bookworm-amd64-minbase${IDS}`;
    const cache = sb.mkdir("cache-main");
    const env = { CM_CACHE_DIR: cache };

    test("two concurrent creates with an empty cache: both succeed, the base is bootstrapped once", async () => {
      const a = sb.spawn(["create"], { env });
      const b = sb.spawn(["create", "two"], { env });
      const [ra, rb] = await Promise.all([finished(a), finished(b)]);
      assert.equal(ra.status, 0, ra.stderr);
      assert.equal(rb.status, 0, rb.stderr);
      const lines = [ra.stderr.trim(), rb.stderr.trim()];
      for (const l of lines) assert.equal(l.split("\n").length, 1, l);
      assert.equal(lines.filter((l) => l.includes(`(bootstrapped the base ${KEY} with mmdebstrap)`)).length, 1, lines.join("\n"));
      assert.equal(lines.filter((l) => l.includes(`(from the cached base ${KEY})`)).length, 1, lines.join("\n"));
      const bases = cacheList(sb, cache);
      assert.deepEqual(
        bases.map((x) => [x.key, x.tool, x.source]),
        [[KEY, "mmdebstrap", "debian:bookworm"]],
      );
      assert.ok((bases[0]?.sizeBytes ?? 0) > 100e6);
      assert.deepEqual(
        readdirSync(join(cache, "bases")).filter((n) => n.startsWith(".") && !n.endsWith(".lock")),
        [],
        "no work directories remain",
      );
    });

    test("a warm create copies the cached base; the bundle runs Debian", () => {
      const r = sb.cm(["create", "warm"], { env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /^cm: created bundle warm of project proj from debian:bookworm \(from the cached base/);
      const v = sb.cm(["run", "warm", "--", "cat", "/etc/debian_version"], { env });
      assert.equal(v.status, 0, v.stderr);
      assert.match(v.stdout, /^12\./);
    });

    test("apt inside: apt-get update && apt-get install hello works in a default bundle", () => {
      const r = sb.cm(["run", "--", "sh", "-c", "apt-get update && apt-get install -y --no-install-recommends hello && hello"], {
        env,
        timeoutMs: 600_000,
      });
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /Hello, world!/);
    });

    test("cm cache list shows key, size and creation time", () => {
      const r = sb.cm(["cache", "list"], { env });
      assert.equal(r.status, 0, r.stderr);
      const [header, row] = r.stdout.trim().split("\n");
      assert.match(header ?? "", /^KEY\s+SIZE\s+CREATED\s+SOURCE$/);
      assert.match(row ?? "", new RegExp(`^${KEY}\\s+\\d+(\\.\\d)?MiB\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\s+debian:bookworm$`));
    });

    test("--refresh bootstraps the base again", () => {
      const before = cacheList(sb, cache)[0];
      const r = sb.cm(["create", "fresh", "--refresh"], { env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /bootstrapped the base/);
      const after = cacheList(sb, cache);
      assert.equal(after.length, 1);
      assert.notEqual(after[0]?.created, before?.created);
    });

    test("--packages adds Debian packages at bootstrap time, cached under its own key", () => {
      const r = sb.cm(["create", "withhello", "--packages", "hello"], { env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`from debian:bookworm \\+hello \\(bootstrapped the base debian-bookworm-amd64-minbase-[0-9a-f]{12}${IDS} `),
      );
      const run = sb.cm(["run", "withhello", "--", "hello"], { env });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, "Hello, world!\n");
      assert.equal(cacheList(sb, cache).length, 2);
    });

    test("an unknown package: a one-line error, no base and no bundle", () => {
      const r = sb.cm(["create", "badpkg", "--packages", "no-such-package-cm"], { env });
      assert.equal(r.status, 125);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /mmdebstrap failed/);
      assert.equal(cacheList(sb, cache).length, 2);
      assert.equal(existsSync(join(sb.home, "data", "proj", "badpkg")), false);
    });

    test("cm cache prune removes every base and says so; bundles keep working", () => {
      const r = sb.cm(["cache", "prune"], { env });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^removed ${KEY} \\(\\d+(\\.\\d)?MiB\\)$`, "m"));
      assert.match(r.stdout, new RegExp(`^removed debian-bookworm-amd64-minbase-[0-9a-f]{12}${IDS} `, "m"));
      assert.match(r.stdout, /^freed /m);
      assert.deepEqual(cacheList(sb, cache), []);
      const again = sb.cm(["cache", "prune"], { env });
      assert.match(again.stdout, /nothing removed/);
      assert.equal(sb.cm(["run", "warm", "--", "true"], { env }).status, 0);
      const bad = sb.cm(["cache", "prune", "nope"], { env });
      assert.equal(bad.status, 125);
      assert.ok(isOneLineError(bad.stderr), bad.stderr);
    });

    test("a cm killed (SIGKILL) during a cache fill leaves nothing taken as complete; the next create succeeds", async () => {
      const killCache = sb.mkdir("cache-kill");
      const child = sb.spawn(["create", "killed"], { env: { CM_CACHE_DIR: killCache } });
      const bases = join(killCache, "bases");
      await waitFor("the cache fill to start", () => existsSync(bases) && readdirSync(bases).some((n) => n.includes(".tmp-")), 60_000);
      await new Promise((r) => setTimeout(r, 2000));
      child.kill("SIGKILL");
      await finished(child);
      assert.deepEqual(cacheList(sb, killCache), []);
      const r = sb.cm(["create", "afterkill"], { env: { CM_CACHE_DIR: killCache } });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /bootstrapped the base/);
      assert.deepEqual(
        readdirSync(bases).filter((n) => n.startsWith(".") && !n.endsWith(".lock")),
        [],
        "the killed fill's work directory was removed",
      );
      assert.equal(sb.cm(["run", "afterkill", "--", "true"]).status, 0);
      assert.equal(existsSync(join(sb.home, "data", "proj", "killed")), false);
    });

    if (as === "root") {
      test("debootstrap (the fallback when mmdebstrap is missing; forced with CM_BOOTSTRAP) bootstraps a working base", () => {
        const dcache = sb.mkdir("cache-debootstrap");
        const r = sb.cm(["create", "deboot"], { env: { CM_CACHE_DIR: dcache, CM_BOOTSTRAP: "debootstrap" }, timeoutMs: 900_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stderr, /bootstrapped the base .* with debootstrap/);
        assert.equal(cacheList(sb, dcache)[0]?.tool, "debootstrap");
        const v = sb.cm(["run", "deboot", "--", "cat", "/etc/debian_version"]);
        assert.match(v.stdout, /^12\./);
      });
    } else {
      test("debootstrap as an ordinary user: a one-line error that says it needs root", () => {
        const r = sb.cm(["create", "deboot"], { env: { CM_CACHE_DIR: sb.mkdir("cache-debootstrap"), CM_BOOTSTRAP: "debootstrap" } });
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /debootstrap needs root/);
      });
    }
  });
}
