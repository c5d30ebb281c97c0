/**
 * Extended attributes and file capabilities from tarballs and image layers: a file made by the
 * test with `setcap cap_net_raw+ep` and a `user.*` attribute, packed by GNU tar (--xattrs) for
 * tar:PATH and written as pax SCHILY.xattr records into an OCI layer for oci-layout:PATH. As root
 * the capability is in the bundle's rootfs (getcap); rootless it cannot be set: the bundle works
 * and the final line says so once. Needs setfattr (attr), setcap/getcap (libcap2-bin), getfattr.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { chownSync, cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fixtures, type Sandbox, sandbox, USERS } from "../helpers/cm.ts";
import { Layout, treeEntries } from "../helpers/oci.ts";

/** security.capability for cap_net_raw=ep (VFS_CAP_REVISION_2 | effective, permitted bit 13): what setcap writes. */
const NET_RAW_EP = Buffer.from("AQAAAgAgAAAAAAAAAAAAAAAAAAA=", "base64");

let work: string;
let tarball: string;
let layoutDir: string;

function rootfsOf(sb: Sandbox, bundle: string): string {
  const data = sb.env.CM_HOME as string;
  const [key] = readdirSync(data);
  return join(data, key as string, bundle, "rootfs");
}

function getcap(path: string): string {
  return execFileSync("getcap", [path], { encoding: "utf8" }).trim();
}

function getfattr(path: string, name: string): string {
  const r = spawnSync("getfattr", ["--only-values", "-n", name, "--", path], { encoding: "utf8" });
  return r.status === 0 ? r.stdout : `(none: ${r.stderr.trim()})`;
}

before(() => {
  for (const tool of ["setfattr", "getfattr", "setcap", "getcap"]) {
    assert.equal(spawnSync("sh", ["-c", `command -v ${tool}`]).status, 0, `${tool} is missing: apt-get install attr libcap2-bin`);
  }
  work = join(process.env.CM_TEST_RUN as string, `xattrs-${process.pid}`);
  // The tarball: the busybox tree plus a file with a capability and a user attribute, packed by GNU tar.
  const tree = join(work, "tree");
  mkdirSync(work, { recursive: true });
  cpSync(fixtures.busybox, tree, { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(tree, "opt"), { recursive: true });
  writeFileSync(join(tree, "opt/capped"), "#!/bin/sh\necho capped\n", { mode: 0o755 });
  execFileSync("setcap", ["cap_net_raw+ep", join(tree, "opt/capped")]);
  execFileSync("setfattr", ["-n", "user.note", "-v", "from-tar", join(tree, "opt/capped")]);
  assert.match(getcap(join(tree, "opt/capped")), /cap_net_raw=ep/);
  tarball = join(work, "caps.tar");
  execFileSync("tar", ["--xattrs", "--xattrs-include=*", "--format=posix", "-cf", tarball, "-C", tree, "."]);
  // The image: a layer whose entry carries the same attributes as pax records (as Docker and BuildKit write them).
  layoutDir = join(work, "layout");
  const l = new Layout(layoutDir);
  l.tag(
    l.image({
      layers: [
        { entries: treeEntries(fixtures.busybox) },
        {
          entries: [
            { path: "opt", type: "dir" },
            {
              path: "opt/capped",
              content: "#!/bin/sh\necho capped\n",
              mode: 0o755,
              xattrs: { "security.capability": NET_RAW_EP, "user.note": "from-image", "security.selinux": "system_u:object_r:bin_t:s0" },
            },
          ],
        },
      ],
      config: { Cmd: ["sh", "-c", "echo image-ok"] },
    }),
    "caps",
  );
  execFileSync("chmod", ["-R", "a+rX", work]);
});

after(() => rmSync(work, { recursive: true, force: true }));

for (const as of USERS) {
  describe(`extended attributes and file capabilities (${as})`, () => {
    for (const [kind, from, note] of [
      ["tar:PATH (GNU tar --xattrs)", () => `tar:${tarball}`, "from-tar"],
      ["oci-layout:PATH (pax SCHILY.xattr records in a layer)", () => `oci-layout:${layoutDir}:caps`, "from-image"],
    ] as const) {
      test(kind, () => {
        const sb = sandbox(as);
        chownSync(sb.dir, sb.uid, sb.gid);
        const r = sb.cm(["create", "c", "--from", from()]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
        const capped = join(rootfsOf(sb, "c"), "opt/capped");
        // As root, and rootless in range mode (the test user has a subordinate range: the
        // extractor runs as root of the bundle's user namespace, which may set namespaced capabilities).
        assert.match(getcap(capped), /cap_net_raw=ep/);
        assert.doesNotMatch(r.stderr, /not applied/, r.stderr);
        if (as === "rootless") {
          // one id only (--userns single): an ordinary user cannot set them
          const single = sb.cm(["create", "s", "--userns", "single", "--from", from()]);
          assert.equal(single.status, 0, single.stderr);
          assert.equal(getcap(join(rootfsOf(sb, "s"), "opt/capped")), "");
          assert.match(single.stderr, /\(1 file capability not applied: an ordinary user cannot set security\.capability/);
          assert.equal(getfattr(join(rootfsOf(sb, "s"), "opt/capped"), "user.note"), note);
        }
        // user.* attributes are set either way; security.selinux never.
        assert.equal(getfattr(capped, "user.note"), note);
        assert.notEqual(getfattr(capped, "security.selinux"), "system_u:object_r:bin_t:s0");
        const run = sb.cm(["run", "c", "--", "/opt/capped"]);
        assert.equal(run.status, 0, run.stderr);
        assert.equal(run.stdout, "capped\n");
      });
    }
  });
}
