import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { findCommand, placementFailure, startFailure } from "../../../src/rootfs/command-lookup.ts";

function setup() {
  const root = mkdtempSync(join(tmpdir(), "cm-cmd-"));
  const project = mkdtempSync(join(tmpdir(), "cm-proj-"));
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  symlinkSync("usr/bin", join(root, "bin"));
  writeFileSync(join(root, "usr/bin/ok"), "");
  chmodSync(join(root, "usr/bin/ok"), 0o755);
  writeFileSync(join(root, "usr/bin/plain"), "");
  symlinkSync("/usr/bin/ok", join(root, "usr/bin/alias"));
  writeFileSync(join(project, "script.sh"), "");
  chmodSync(join(project, "script.sh"), 0o700);
  return {
    root,
    lookup: { cwd: "/project", path: "/usr/local/bin:/usr/bin:/bin", mounts: [{ destination: "/project", source: project }] },
  };
}

test("finds commands on PATH, through symlinks kept inside the rootfs", () => {
  const { root, lookup } = setup();
  assert.equal(findCommand(root, "ok", lookup), "found");
  assert.equal(findCommand(root, "alias", lookup), "found");
  assert.equal(findCommand(root, "/bin/ok", lookup), "found");
});

test("symlinks in a bind source (the project) are followed inside the container, never on the host", () => {
  const { root, lookup } = setup();
  const project = lookup.mounts[0]?.source as string;
  // a venv's bin/python -> /usr/bin/python3: the rootfs's, whatever the host has there
  symlinkSync("/usr/bin/ok", join(project, "py"));
  assert.equal(findCommand(root, "/project/py", lookup), "found");
  // a host program the rootfs does not have is not found, by an absolute or a climbing relative link
  symlinkSync(process.execPath, join(project, "hostnode"));
  symlinkSync(`../../../../../../..${process.execPath}`, join(project, "climb"));
  assert.equal(findCommand(root, "/project/hostnode", lookup), "not-found");
  assert.equal(findCommand(root, "/project/climb", lookup), "not-found");
});

test("127 and 126 cases", () => {
  const { root, lookup } = setup();
  assert.equal(findCommand(root, "missing", lookup), "not-found");
  assert.equal(findCommand(root, "/nope/x", lookup), "not-found");
  assert.equal(findCommand(root, "", lookup), "not-found");
  assert.equal(findCommand(root, "plain", lookup), "not-executable");
  assert.equal(findCommand(root, "/usr/bin", lookup), "not-executable");
});

test("paths in /project and relative to the working directory resolve through the bind mount", () => {
  const { root, lookup } = setup();
  assert.equal(findCommand(root, "./script.sh", lookup), "found");
  assert.equal(findCommand(root, "/project/script.sh", lookup), "found");
  assert.equal(findCommand(root, "./other.sh", lookup), "not-found");
});

test("startFailure: interpreters, loaders, formats, directories, E2BIG", () => {
  const { root, lookup } = setup();
  const check = { ...lookup, args: ["x"], env: ["PATH=/usr/bin"], stackSoft: 8 * 1024 * 1024, arch: process.arch, where: "bundle b" };
  const file = (name: string, content: string | Buffer) => {
    writeFileSync(join(root, "usr/bin", name), content);
    chmodSync(join(root, "usr/bin", name), 0o755);
  };
  file("ok", readFileSync("/usr/bin/tini-static")); // a static ELF: no loader needed
  file("sh", "#!/usr/bin/ok\n");
  file("good.sh", "#!/usr/bin/sh -e\necho\n");
  file("py", "#!/usr/bin/python3\n");
  file("junk", "garbage");
  file("elf", readFileSync("/usr/bin/true")); // dynamic: its loader is not in this root
  const f = (cmd: string, extra = {}) => startFailure(root, cmd, { ...check, ...extra });
  assert.equal(f("good.sh"), undefined); // an interpreter that is itself a script is followed
  assert.deepEqual(f("py"), { status: 127, reason: "py: its interpreter /usr/bin/python3 (the #! line) is not found in bundle b" });
  assert.equal(f("junk")?.status, 126);
  assert.match(f("junk")?.reason ?? "", /exec format error/);
  assert.equal(f("elf")?.status, 127);
  assert.match(f("elf")?.reason ?? "", /dynamic loader \/lib.*ld-linux/);
  assert.match(f("/usr/bin")?.reason ?? "", /is a directory/);
  assert.equal(f("missing")?.status, 127);
  assert.match(f("good.sh", { args: ["good.sh", "x".repeat(200_000)] })?.reason ?? "", /argument list too long/);
});

test("placementFailure: a bind mount or the working directory the runtime could not put there", () => {
  const { root, lookup } = setup();
  const project = lookup.mounts[0]?.source as string;
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc/passwd"), "");
  symlinkSync("/etc/passwd", join(root, "usr/bin/pw"));
  const dir = mkdtempSync(join(tmpdir(), "cm-src-"));
  const file = join(dir, "f");
  writeFileSync(file, "");
  const base = [
    { destination: "/proc", bind: false },
    { destination: "/project", source: project, bind: true },
  ];
  const at = (destination: string, source: string, cwd = "/project", extra: typeof base = []) =>
    placementFailure(root, [...base, ...extra, { destination, source, bind: true }], cwd, "bundle b");
  // fine: a missing destination (the runtime makes it), file on file, directory on directory
  assert.equal(at("/data", dir), undefined);
  assert.equal(at("/etc/passwd", file), undefined);
  assert.equal(at("/etc", dir), undefined);
  assert.equal(at("/project/sub", dir), undefined);
  // a directory on a file, through a symlink kept inside the rootfs too
  assert.match(
    at("/etc/passwd", dir) ?? "",
    /^cannot mount \S+ at \/etc\/passwd: \/etc\/passwd is a file in bundle b, and a directory can only be mounted on a directory$/,
  );
  assert.match(at("/usr/bin/pw", dir) ?? "", /is a file in bundle b/);
  // a file on a directory; a destination below a file (in the rootfs, and in the project through its bind)
  assert.match(at("/etc", file) ?? "", /\/etc is a directory in bundle b, and a file can only be mounted on a file$/);
  assert.match(at("/etc/passwd/x", dir) ?? "", /a part of \/etc\/passwd\/x is a file in bundle b, not a directory$/);
  assert.match(at("/project/script.sh/x", dir) ?? "", /a part of \/project\/script.sh\/x is a file/);
  // below a mount that is not a bind (the runtime's /proc, a tmpfs, --review's overlay): not known, not judged
  assert.equal(at("/proc/x", file), undefined);
  // --ephemeral's overlay at / shows the rootfs
  assert.match(at("/etc/passwd", dir, "/project", [{ destination: "/", bind: false }]) ?? "", /is a file in bundle b/);
  // the working directory, through the mounts: a file, below a file; a bind of a file used as it
  assert.equal(
    placementFailure(root, base, "/etc/passwd", "bundle b"),
    "working directory /etc/passwd: it is a file in bundle b, not a directory",
  );
  assert.match(placementFailure(root, base, "/etc/passwd/sub", "bundle b") ?? "", /a part of it is a file/);
  assert.match(placementFailure(root, base, "/project/script.sh", "bundle b") ?? "", /it is a file/);
  assert.equal(placementFailure(root, base, "/nowhere/yet", "bundle b"), undefined);
  assert.match(at("/tmp/f", file, "/tmp/f") ?? "", /^working directory \/tmp\/f: it is a file/);
  // a destination below an earlier bind resolves through it
  assert.equal(at("/tmp/x/y", file, "/tmp/x", [{ destination: "/tmp/x", source: dir, bind: true }]), undefined);
  // a link the container planted in the project leads into the container, not to the host's file
  symlinkSync(process.execPath, join(project, "wf"));
  assert.equal(placementFailure(root, base, "/project/wf", "bundle b"), undefined);
  symlinkSync("/etc/passwd", join(project, "pw"));
  assert.match(placementFailure(root, base, "/project/pw", "bundle b") ?? "", /it is a file/);
  // a source cm cannot stat is left to the runtime
  assert.equal(at("/etc/passwd", join(dir, "gone")), undefined);
});
