import assert from "node:assert/strict";
import { test } from "node:test";
import { mergeEnv } from "../../../src/core/spec/image.ts";
import { bundleSpec, IMAGE_ANNOTATION, imageCommand } from "../../../src/core/spec/index.ts";

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
  command: ["python3", "-m", "http.server"],
  user: { text: "app", uid: 1000, gid: 1000 },
  workingDir: "/app",
  digest: `sha256:${"a".repeat(64)}`,
};

test("image defaults: env merged over the base, command as args, /project stays the cwd", () => {
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
  assert.deepEqual(imageCommand(s.annotations), ["python3", "-m", "http.server"]);
});

test("rootless maps only root: the image user is recorded, not applied", () => {
  const s = bundleSpec({ ...input, rootless: true, image });
  assert.deepEqual(s.process.user, { uid: 0, gid: 0 });
  assert.equal(s.annotations[IMAGE_ANNOTATION.user], "app");
});

test("no image: nothing recorded, no default command", () => {
  const s = bundleSpec({ ...input, rootless: false });
  assert.equal(imageCommand(s.annotations), undefined);
  assert.equal(s.annotations[IMAGE_ANNOTATION.digest], undefined);
  assert.equal(imageCommand({ [IMAGE_ANNOTATION.command]: "not json" }), undefined);
  assert.equal(imageCommand({ [IMAGE_ANNOTATION.command]: "[]" }), undefined);
});

test("mergeEnv: later wins, malformed entries dropped", () => {
  assert.deepEqual(mergeEnv(["A=1", "B=2"], ["B=3", "C", "=x", "D="]), ["A=1", "B=3", "D="]);
});
