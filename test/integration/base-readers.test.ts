/**
 * The base cache under concurrent use, end to end: a cm copying a base registers as its reader, so
 * `cm cache prune` keeps the base until the copy is done (before, the copy failed half-way). A real
 * cm is paused (SIGSTOP) in the middle of its copy of a Debian minbase base (bootstrapped by
 * mmdebstrap into a cache directory of the test's own: thousands of files, so the copy takes a
 * while). Root and rootless.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { cmAsync, finished, type Result, type Sandbox, sandbox, USERS } from "../helpers/cm.ts";

function cm(sb: Sandbox, args: string[], cache: string): Promise<Result> {
  return cmAsync(sb, args, { CM_CACHE_DIR: cache });
}

for (const as of USERS) {
  describe(`base readers (${as})`, () => {
    test("cm cache prune keeps a base that a create is copying; once the copy is done, prune removes it", async () => {
      const sb = sandbox(as);
      const cache = sb.mkdir("cache-readers");
      const first = await cm(sb, ["create", "one", "--from", "debian:bookworm"], cache);
      assert.equal(first.status, 0, first.stderr);
      const key = /bootstrapped the base (debian-[0-9a-z-]+) with/.exec(first.stderr)?.[1];
      assert.ok(key, first.stderr);
      const bases = join(cache, "bases");
      const marker = new RegExp(`^\\.${key}\\.reader-(\\d+)$`);

      const child = sb.spawn(["create", "two", "--from", "debian:bookworm"], { env: { CM_CACHE_DIR: cache } });
      child.stdin?.end();
      const done = finished(child);
      // The reader registers just before its copy starts: catch it then and pause it.
      let pid: number | undefined;
      for (const end = Date.now() + 60_000; pid === undefined && Date.now() < end; ) {
        const m = readdirSync(bases)
          .map((n) => marker.exec(n))
          .find((x) => x !== null);
        if (m) pid = Number(m[1]);
        else await sleep(2);
      }
      assert.ok(pid, "no cm registered as a reader of the base");
      process.kill(pid, "SIGSTOP");
      try {
        const kept = await cm(sb, ["cache", "prune"], cache);
        assert.equal(kept.status, 0, kept.stderr);
        assert.match(kept.stderr, new RegExp(`^cm: kept ${key}: another cm \\(pid ${pid}\\) is using it\\n$`));
        assert.equal(existsSync(join(bases, key, "rootfs/usr/bin/apt-get")), true, "the base is still whole");
      } finally {
        process.kill(pid, "SIGCONT");
      }
      const two = await done;
      assert.equal(two.status, 0, two.stderr);
      assert.match(two.stderr, new RegExp(`from the cached base ${key}`));
      const run = await cm(sb, ["run", "two", "--", "test", "-x", "/usr/bin/apt-get"], cache);
      assert.equal(run.status, 0, run.stderr);
      // The copy is done: its reader is gone, and nothing keeps the base any more.
      assert.deepEqual(
        readdirSync(bases).filter((n) => marker.test(n)),
        [],
      );
      const pruned = await cm(sb, ["cache", "prune"], cache);
      assert.equal(pruned.status, 0, pruned.stderr);
      assert.match(pruned.stdout, new RegExp(`removed ${key} \\(`));
      assert.equal(existsSync(join(bases, key)), false);
    });
  });
}
