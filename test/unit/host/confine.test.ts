import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { checkConfined, openChecked, readFileConfined } from "../../../src/host/confine.ts";

test("checkConfined: a path in the project must resolve inside it; outside paths are the user's", () => {
  checkConfined("/p/cache", "/p/real-cache", "/p", "volume source");
  checkConfined("/srv/data", "/etc", "/p", "volume source");
  assert.throws(
    () => checkConfined("/p/cache", "/etc", "/p", "volume source"),
    /volume source \/p\/cache leads out of the project directory \(to \/etc\)/,
  );
});

test("openChecked and readFileConfined look at what was opened", () => {
  const p = realpathSync(mkdtempSync(join(tmpdir(), "cm-confine-")));
  mkdirSync(join(p, "d"));
  writeFileSync(join(p, "f"), "A=1\n");
  symlinkSync(join(p, "d"), join(p, "l"));
  const c = openChecked(join(p, "l"));
  const st = statSync(join(p, "d"), { bigint: true });
  assert.deepEqual(c, { real: join(p, "d"), dev: st.dev.toString(), ino: st.ino.toString() });
  assert.equal(readFileConfined(join(p, "f"), p, "env_file"), "A=1\n");
  symlinkSync("/etc/hostname", join(p, "out"));
  assert.throws(() => readFileConfined(join(p, "out"), p, "env_file"), /leads out of the project directory/);
  assert.throws(() => readFileConfined(join(p, "d"), p, "env_file"), { code: "EISDIR" });
});
