import assert from "node:assert/strict";
import { test } from "node:test";
import { leanExec, restoreEnv } from "../../../src/host/lean.ts";

const node = "/opt/cm/node";
const argv = [node, "/opt/cm/dist/main.js", "create", "--from", "image:debian", "--env-file", "x"];

test("re-executes the same script and arguments with the V8 flag before --", () => {
  const e = leanExec(node, ["--"], argv, { PATH: "/usr/bin" });
  assert.ok(e);
  assert.equal(e.file, node);
  assert.deepEqual(e.args, [
    node,
    "--max-semi-space-size=1",
    "--",
    "/opt/cm/dist/main.js",
    "create",
    "--from",
    "image:debian",
    "--env-file",
    "x",
  ]);
  assert.equal(e.env.PATH, "/usr/bin");
  assert.equal(e.env.GLIBC_TUNABLES, "glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2");
});

test("keeps Node options it was started with", () => {
  const e = leanExec(node, ["--no-warnings", "--"], argv, {});
  assert.deepEqual(e?.args.slice(0, 4), [node, "--no-warnings", "--max-semi-space-size=1", "--"]);
});

test("the user's GLIBC_TUNABLES come after cm's (theirs win) and are given back afterwards", () => {
  const e = leanExec(node, [], argv, { GLIBC_TUNABLES: "glibc.malloc.arena_max=8" });
  assert.equal(e?.env.GLIBC_TUNABLES, "glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2:glibc.malloc.arena_max=8");
  const env = { ...e?.env };
  restoreEnv(env);
  assert.equal(env.GLIBC_TUNABLES, "glibc.malloc.arena_max=8");
  assert.equal(env.CM_LEAN, undefined);
});

test("an unset GLIBC_TUNABLES is unset again in the re-executed cm", () => {
  const env = { ...leanExec(node, [], argv, { HOME: "/root" })?.env };
  restoreEnv(env);
  assert.deepEqual(env, { HOME: "/root" });
});

test("an empty GLIBC_TUNABLES stays empty", () => {
  const env = { ...leanExec(node, [], argv, { GLIBC_TUNABLES: "" })?.env };
  assert.equal(env.GLIBC_TUNABLES, "glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2");
  restoreEnv(env);
  assert.equal(env.GLIBC_TUNABLES, "");
});

test("never twice, and not when CM_NO_LEAN=1", () => {
  const once = leanExec(node, [], argv, {});
  assert.equal(leanExec(node, [], argv, once?.env ?? {}), undefined);
  assert.equal(leanExec(node, [], argv, { CM_NO_LEAN: "1" }), undefined);
});

test("restoreEnv leaves an ordinary environment alone", () => {
  const env = { GLIBC_TUNABLES: "a=1", X: "y" };
  restoreEnv(env);
  assert.deepEqual(env, { GLIBC_TUNABLES: "a=1", X: "y" });
});
