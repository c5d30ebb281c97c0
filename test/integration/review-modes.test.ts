import assert from "node:assert/strict";
import { chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, sandbox, USERS } from "../helpers/cm.ts";

/**
 * cm apply keeps the modes a --review run gave (and, as root, the owners): a program made setuid
 * root inside would land in the project as one. The review must show it, not list it as any file.
 */
for (const as of USERS) {
  describe(`--review shows setuid, setgid and sticky bits (${as})`, () => {
    const sb = sandbox(as);

    test("cm diff and cm diff --stat name the special bits of added and changed files", () => {
      writeFileSync(join(sb.project, "notes.txt"), "one\n", { mode: 0o644 });
      chownSync(join(sb.project, "notes.txt"), sb.uid, sb.gid);
      const c = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(c.status, 0, c.stderr);
      const r = sb.cm([
        "run",
        "--review",
        "--",
        "sh",
        "-c",
        "cp /bin/busybox /project/tool && chmod 4755 /project/tool && echo two >> /project/notes.txt && chmod 2755 /project/notes.txt && mkdir /project/shared && chmod 1777 /project/shared",
      ]);
      assert.equal(r.status, 0, r.stderr);
      const d = sb.cm(["diff"]);
      assert.equal(d.status, 0, d.stderr);
      assert.match(d.stdout, /^A tool \(mode 4755: setuid\)$/m);
      assert.match(d.stdout, /^M notes\.txt \(mode 2755: setgid\)$/m);
      assert.match(d.stdout, /^A shared\/ \(mode 1777: sticky\)$/m);
      const s = sb.cm(["diff", "--stat"]);
      assert.equal(s.status, 0, s.stderr);
      assert.match(s.stdout, /^A tool \(mode 4755: setuid\) \| /m);
      const x = sb.cm(["discard"]);
      assert.equal(x.status, 0, x.stderr);
    });
  });
}
