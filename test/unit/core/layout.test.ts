import assert from "node:assert/strict";
import { test } from "node:test";
import { checkLayoutEnv, layout } from "../../../src/core/layout.ts";

test("defaults follow XDG for an ordinary user", () => {
  const l = layout({}, 1000, "/home/u");
  assert.equal(l.data, "/home/u/.local/share/cm");
  assert.equal(l.cache, "/home/u/.cache/cm");
  assert.equal(l.state, "/tmp/cm-1000");
  assert.equal(l.runcRoot, "/tmp/cm-1000/runc");
  assert.equal(l.runs, "/tmp/cm-1000/runs");
});

test("XDG variables, CM_* overrides, and root's /run/cm", () => {
  const l = layout({ XDG_DATA_HOME: "/x/data", XDG_CACHE_HOME: "/x/cache", XDG_RUNTIME_DIR: "/run/user/1000" }, 1000, "/home/u");
  assert.equal(l.data, "/x/data/cm");
  assert.equal(l.cache, "/x/cache/cm");
  assert.equal(l.state, "/run/user/1000/cm");
  assert.equal(layout({ CM_HOME: "/d", CM_CACHE_DIR: "/c", CM_STATE_DIR: "/s" }, 1000, "/h").data, "/d");
  assert.equal(layout({}, 0, "/root").state, "/run/cm");
});

test("relative XDG values are ignored, as the spec says", () => {
  const l = layout({ XDG_DATA_HOME: "rel", XDG_RUNTIME_DIR: "x" }, 1000, "/home/u");
  assert.equal(l.data, "/home/u/.local/share/cm");
  assert.equal(l.state, "/tmp/cm-1000");
});

test("cm's own variables and HOME must be absolute when set: empty or relative ones are refused", () => {
  for (const name of ["CM_HOME", "CM_CACHE_DIR", "CM_STATE_DIR", "CM_CONFIG_DIR"]) {
    assert.throws(() => checkLayoutEnv({ [name]: "rel" }, "/home/u"), new RegExp(`${name}="rel" is not an absolute path`));
    assert.throws(() => checkLayoutEnv({ [name]: "" }, "/home/u"), new RegExp(`${name}="" is empty`));
  }
  assert.throws(() => checkLayoutEnv({}, "rel/home"), /HOME\) is not an absolute path/);
  assert.throws(() => checkLayoutEnv({}, ""), /HOME\) is not an absolute path/);
  checkLayoutEnv({ CM_HOME: "/d" }, "/home/u");
});
