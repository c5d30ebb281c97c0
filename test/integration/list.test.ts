import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fixtures, sandbox, USERS } from "../helpers/cm.ts";

for (const as of USERS) {
  describe(`cm list (${as})`, () => {
    test("projects and bundles with size and project path; --json has the documented fields", () => {
      const sb = sandbox(as, "list me");
      assert.deepEqual(JSON.parse(sb.cm(["list", "--json"]).stdout), []);
      for (const b of ["default", "other"]) assert.equal(sb.cm(["create", b, "--from", `dir:${fixtures.busybox}`]).status, 0);
      const entries = JSON.parse(sb.cm(["list", "--json"]).stdout) as Record<string, unknown>[];
      assert.equal(entries.length, 2);
      for (const e of entries) {
        assert.deepEqual(Object.keys(e).sort(), ["bundle", "created", "dir", "path", "project", "rootless", "sizeBytes", "source"]);
        assert.equal(e.project, "list me");
        assert.equal(e.path, sb.project);
        assert.equal(e.rootless, as === "rootless");
        assert.ok(typeof e.sizeBytes === "number" && e.sizeBytes > 1_000_000, String(e.sizeBytes));
      }
      assert.deepEqual(entries.map((e) => e.bundle).sort(), ["default", "other"]);
      const table = sb.cm(["list"]);
      assert.equal(table.status, 0);
      const lines = table.stdout.trim().split("\n");
      assert.match(lines[0] ?? "", /^PROJECT\s+BUNDLE\s+SIZE\s+CREATED\s+SOURCE\s+PATH$/);
      assert.equal(lines.length, 3);
      assert.ok(lines[1]?.includes(sb.project));
    });

    test("unexpected arguments are refused", () => {
      const sb = sandbox(as);
      assert.equal(sb.cm(["list", "extra"]).status, 125);
      assert.equal(sb.cm(["list", "--bogus"]).status, 125);
    });
  });
}
