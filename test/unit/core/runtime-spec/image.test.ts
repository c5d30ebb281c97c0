import assert from "node:assert/strict";
import { test } from "node:test";
import { mergeEnv } from "../../../../src/core/run/env.ts";
import { recordedImageDefaults } from "../../../../src/core/runtime-spec/image.ts";
import { bundleSpec, IMAGE_ANNOTATION, imageProcess } from "../../../../src/core/runtime-spec/index.ts";

const input = {
  projectName: "p",
  projectPath: "/home/u/p",
  bundle: "default",
  hostname: "p",
  source: "image:docker.io/library/x:latest",
  created: "2026-01-01T00:00:00Z",
  uid: 1000,
  gid: 1000,
  resolvConf: false,
  arch: "x64",
};
const image = {
  env: ["PATH=/opt/bin:/bin", "LANG=C.UTF-8"],
  entrypoint: ["python3", "-m"],
  cmd: ["http.server"],
  user: { text: "app", uid: 1000, gid: 1000 },
  workingDir: "/app",
  digest: `sha256:${"a".repeat(64)}`,
};

test("image defaults: env merged over the base, Entrypoint + Cmd as args, /project stays the cwd", () => {
  const s = bundleSpec({ ...input, rootless: false, image });
  assert.deepEqual(s.process.args, ["python3", "-m", "http.server"]);
  assert.equal(s.process.cwd, "/project");
  assert.ok(s.process.env.includes("PATH=/opt/bin:/bin"));
  assert.ok(s.process.env.includes("LANG=C.UTF-8"));
  assert.ok(s.process.env.includes("HOME=/root"));
  assert.equal(s.process.env.filter((e) => e.startsWith("PATH=")).length, 1);
  assert.deepEqual(s.process.user, { uid: 1000, gid: 1000 });
  assert.equal(s.annotations[IMAGE_ANNOTATION.workingDir], "/app");
  assert.equal(s.annotations[IMAGE_ANNOTATION.user], "app");
  assert.deepEqual(imageProcess(s.annotations), { entrypoint: ["python3", "-m"], cmd: ["http.server"] });
  assert.equal(s.annotations[IMAGE_ANNOTATION.command], undefined);
});

test("Entrypoint and Cmd are recorded apart; one of them alone is read back with the other empty", () => {
  const onlyEntry = bundleSpec({ ...input, rootless: false, image: { ...image, cmd: [] } });
  assert.deepEqual(onlyEntry.process.args, ["python3", "-m"]);
  assert.equal(onlyEntry.annotations[IMAGE_ANNOTATION.cmd], undefined);
  assert.deepEqual(imageProcess(onlyEntry.annotations), { entrypoint: ["python3", "-m"], cmd: [] });
  const onlyCmd = bundleSpec({ ...input, rootless: false, image: { ...image, entrypoint: [] } });
  assert.deepEqual(imageProcess(onlyCmd.annotations), { entrypoint: [], cmd: ["http.server"] });
});

test("a bundle made before: dev.cm.image.command is read as a Cmd with no entrypoint", () => {
  assert.deepEqual(imageProcess({ [IMAGE_ANNOTATION.command]: '["sh","-c","echo hi"]' }), { entrypoint: [], cmd: ["sh", "-c", "echo hi"] });
  // the new annotations win when both are present
  assert.deepEqual(imageProcess({ [IMAGE_ANNOTATION.command]: '["a"]', [IMAGE_ANNOTATION.entrypoint]: '["b"]' }), {
    entrypoint: ["b"],
    cmd: [],
  });
});

test("rootless maps only root: the image user is recorded, not applied", () => {
  const s = bundleSpec({ ...input, rootless: true, image });
  assert.deepEqual(s.process.user, { uid: 0, gid: 0 });
  assert.equal(s.annotations[IMAGE_ANNOTATION.user], "app");
});

test("no image: nothing recorded, no default command", () => {
  const s = bundleSpec({ ...input, rootless: false });
  assert.equal(imageProcess(s.annotations), undefined);
  assert.equal(s.annotations[IMAGE_ANNOTATION.digest], undefined);
  assert.equal(imageProcess({ [IMAGE_ANNOTATION.command]: "not json" }), undefined);
  assert.equal(imageProcess({ [IMAGE_ANNOTATION.command]: "[]" }), undefined);
  assert.equal(imageProcess({ [IMAGE_ANNOTATION.entrypoint]: "[1]", [IMAGE_ANNOTATION.cmd]: '"x"' }), undefined);
});

test("mergeEnv: later wins, malformed entries dropped", () => {
  assert.deepEqual(mergeEnv(["A=1", "B=2"], ["B=3", "C", "=x", "D="]), ["A=1", "B=3", "D="]);
});

test("a bundle's image defaults read back from its spec make the same spec again (--from bundle:X)", () => {
  const first = bundleSpec({ ...input, rootless: false, image });
  const back = recordedImageDefaults(first);
  assert.ok(back);
  assert.deepEqual(back.entrypoint, image.entrypoint);
  assert.deepEqual(back.cmd, image.cmd);
  assert.deepEqual(back.user, image.user);
  assert.equal(back.workingDir, "/app");
  assert.equal(back.digest, image.digest);
  const copy = bundleSpec({ ...input, bundle: "copy", rootless: false, image: back });
  assert.deepEqual(copy.process.args, first.process.args);
  assert.deepEqual(copy.process.env, first.process.env);
  assert.deepEqual(copy.process.user, first.process.user);
  assert.deepEqual(imageProcess(copy.annotations ?? {}), { entrypoint: image.entrypoint, cmd: image.cmd });
});

test("a bundle not made from an image has no image defaults to carry over", () => {
  assert.equal(recordedImageDefaults(bundleSpec({ ...input, source: "debian:bookworm", rootless: true })), undefined);
});
