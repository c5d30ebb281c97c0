import assert from "node:assert/strict";
import { chownSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS } from "../helpers/cm.ts";

/** ESC, CSI (C1) and CR: what cm must never print raw on a terminal. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what is looked for
const RAW_CONTROL = /[\u001b\u009b\r]/;

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

    test("cm diff on a terminal shows the run's control characters escaped, so a file cannot rewrite its review; piped, the diff is exact", () => {
      const r = sb.cm(["run", "--review", "--", "sh", "-c", `printf 'rm -rf ~\\n\\033[1A\\033[2K\\r+safe line\\n' > /project/evil.sh`]);
      assert.equal(r.status, 0, r.stderr);
      const onTerminal = sb.exec("script", ["-qec", `${fixtures.bin} diff`, "/dev/null"]);
      assert.equal(onTerminal.status, 0, onTerminal.stdout);
      assert.match(onTerminal.stdout, /\+rm -rf ~\r?\n\+\\u001b\[1A\\u001b\[2K\\u000d\+safe line/);
      assert.doesNotMatch(onTerminal.stdout.replaceAll("\r\n", "\n"), RAW_CONTROL);
      const piped = sb.cm(["diff"]);
      assert.ok(piped.stdout.includes("+\u001b[1A\u001b[2K\r+safe line"), `piped: the exact content (a patch): ${piped.stdout}`);
      assert.equal(sb.cm(["discard"]).status, 0);
    });

    test("a name or a link target that is not valid UTF-8 is refused by cm diff and cm apply in one line (never applied as another name); cm discard drops it", () => {
      writeFileSync(join(sb.project, "a\uFFFD"), "the project's own\n");
      chownSync(join(sb.project, "a\uFFFD"), sb.uid, sb.gid);
      for (const script of [`printf x > "/project/a$(printf '\\377')"`, `ln -s "$(printf 'to\\377')" /project/link`]) {
        const r = sb.cm(["run", "--review", "--", "sh", "-c", script]);
        assert.equal(r.status, 0, r.stderr);
        for (const cmd of [["diff"], ["apply"]]) {
          const d = sb.cm(cmd);
          assert.equal(d.status, 125, `${cmd[0]}: ${d.stdout}${d.stderr}`);
          assert.ok(isOneLineError(d.stderr), d.stderr);
          assert.match(d.stderr, /the run made a name that is not valid UTF-8 in .*: "(a|to)\\xff"; cm cannot diff or apply it/);
        }
        assert.equal(sb.cm(["discard"]).status, 0);
      }
      assert.equal(readFileSync(join(sb.project, "a\uFFFD"), "utf8"), "the project's own\n");
      assert.deepEqual(readdirSync(sb.project).sort(), ["a\uFFFD", "notes.txt"]);
    });
  });
}
