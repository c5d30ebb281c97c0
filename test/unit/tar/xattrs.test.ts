import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { extractTar } from "../../../src/tar/extract.ts";
import { parsePax } from "../../../src/tar/reader.ts";
import { addReport, emptyReport, restoreInput, verdict, XattrWriter, xattrNote } from "../../../src/tar/xattrs.ts";
import { type Entry, tar } from "../../helpers/oci.ts";

/** cap_net_raw=ep as setcap writes it */
const NET_RAW_EP = Buffer.from("AQAAAgAgAAAAAAAAAAAAAAAAAAA=", "base64");

const base = mkdtempSync(join(tmpdir(), "cm-xattrs-"));
after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
function place(): string {
  const root = join(base, String(n++), "rootfs");
  mkdirSync(root, { recursive: true });
  return root;
}

const extract = (root: string, data: Buffer | Entry[], rootless = false) =>
  extractTar(Readable.from([Buffer.isBuffer(data) ? data : tar(data)]), root, { rootless, what: "test archive" });

function getfattr(path: string, name: string): Buffer | undefined {
  const r = spawnSync("getfattr", ["--only-values", "-h", "-n", name, "--", path]);
  return r.status === 0 ? r.stdout : undefined;
}

describe("pax records", () => {
  test("SCHILY.xattr values are raw bytes; LIBARCHIVE.xattr names are %-encoded, values base64", () => {
    const rec = (k: string, v: Buffer) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), v, Buffer.from("\n")]);
      let len = body.length + 2;
      if (String(len).length + body.length !== len) len = String(len).length + body.length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    };
    const pax = parsePax(
      Buffer.concat([
        rec("SCHILY.xattr.security.capability", NET_RAW_EP),
        rec("LIBARCHIVE.xattr.user.a%20b", Buffer.from(Buffer.from([0, 1, 255]).toString("base64"))),
        rec("path", Buffer.from("é/x")),
        rec("LIBARCHIVE.xattr.user.%FF", Buffer.from("eA==")),
      ]),
    );
    // a name that does not decode is kept as it is, and so ignored
    assert.equal(verdict([...(pax.xattrs?.keys() ?? [])][2] ?? "", false), "ignore");
    assert.deepEqual(pax.xattrs?.get("security.capability"), NET_RAW_EP);
    assert.deepEqual(pax.xattrs?.get("user.a b"), Buffer.from([0, 1, 255]));
    assert.equal(pax.fields.path, "é/x");
    assert.throws(() => parsePax(Buffer.from("99 path=x\n")), /bad pax header/);
  });
});

describe("which attributes are set", () => {
  test("security.capability as root only, user.* always, nothing else", () => {
    assert.equal(verdict("security.capability", false), "apply");
    assert.equal(verdict("security.capability", true), "rootless");
    assert.equal(verdict("user.mime_type", true), "apply");
    assert.equal(verdict("user.", false), "ignore");
    for (const name of [
      "security.selinux",
      "security.ima",
      "trusted.overlay.opaque",
      "system.posix_acl_access",
      "user.a=b",
      "user.a\nb",
      "user.a b",
    ])
      assert.equal(verdict(name, false), "ignore", name);
  });

  test("setfattr's input names descriptors, never paths; values in base64", () => {
    assert.equal(
      restoreInput([
        [["security.capability", NET_RAW_EP]],
        [
          ["user.a", Buffer.from("x")],
          ["user.b", Buffer.alloc(0)],
        ],
      ]),
      "# file: /proc/self/fd/3\nsecurity.capability=0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=\n\n# file: /proc/self/fd/4\nuser.a=0seA==\nuser.b=0s\n",
    );
  });

  test("the note says what was not applied and how to fix it, once", () => {
    assert.equal(xattrNote(emptyReport()), undefined);
    assert.equal(xattrNote({ ...emptyReport(), applied: 3, ignored: 9 }), undefined);
    const r = addReport({ ...emptyReport(), capsRootless: 1 }, { ...emptyReport(), capsRootless: 2, noTool: 1 });
    assert.equal(
      xattrNote(r),
      "(3 file capabilities not applied: an ordinary user cannot set security.capability (create as root to keep them); 1 extended attribute not applied: setfattr is missing (apt-get install attr))",
    );
    assert.match(
      xattrNote({ ...emptyReport(), failed: 2, failure: "setfattr: Operation not supported" }) ?? "",
      /of 2 files could not be set: setfattr: Operation not supported/,
    );
  });

  test("without setfattr nothing is selected and the count says so", () => {
    const w = new XattrWriter(false, null);
    const attrs = new Map([
      ["security.capability", NET_RAW_EP],
      ["user.a", Buffer.from("b")],
      ["security.selinux", Buffer.from("l")],
    ]);
    assert.deepEqual(w.select(attrs), []);
    w.flush();
    assert.deepEqual(w.report, { ...emptyReport(), noTool: 2, ignored: 1 });
    assert.equal(xattrNote(w.report), "(2 extended attributes not applied: setfattr is missing (apt-get install attr))");
  });
});

describe("XattrWriter", () => {
  test("what setfattr cannot set is counted with its message; the rest of the batch is set", () => {
    const w = new XattrWriter(false);
    const fifo = join(base, "fifo");
    execFileSync("mkfifo", [fifo]);
    const file = join(base, "plain");
    writeFileSync(file, "x");
    const attrs = w.select(new Map([["user.a", Buffer.from("b")]]));
    // user.* attributes are for regular files and directories only: the kernel refuses a FIFO's
    w.take(openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK), attrs);
    w.take(openSync(file, "r"), attrs);
    w.flush();
    assert.equal(w.report.applied, 1);
    assert.equal(w.report.failed, 1);
    assert.match(w.report.failure ?? "", /^setfattr: Operation not permitted/);
    assert.deepEqual(getfattr(file, "user.a"), Buffer.from("b"));
  });
});

describe("extractTar: extended attributes", () => {
  test("a tarball from GNU tar --xattrs: the capability and user.* are set as root; rootless the capability is counted", async () => {
    const src = join(base, "src");
    mkdirSync(join(src, "bin"), { recursive: true });
    writeFileSync(join(src, "bin/ping"), "not really ping");
    execFileSync("setcap", ["cap_net_raw+ep", join(src, "bin/ping")]);
    execFileSync("setfattr", ["-n", "user.origin", "-v", "test", join(src, "bin")]);
    const file = join(base, "caps.tar");
    execFileSync("tar", ["--xattrs", "--xattrs-include=*", "--format=posix", "-cf", file, "-C", src, "."]);
    const data = readFileSync(file);

    const root = place();
    const r = await extract(root, data);
    assert.match(execFileSync("getcap", [join(root, "bin/ping")], { encoding: "utf8" }), /cap_net_raw=ep/);
    assert.deepEqual(getfattr(join(root, "bin"), "user.origin"), Buffer.from("test"));
    assert.equal(r.xattrs.applied, 2);
    assert.equal(xattrNote(r.xattrs), undefined);

    const rootless = place();
    const q = await extract(rootless, data, true);
    assert.equal(execFileSync("getcap", [join(rootless, "bin/ping")], { encoding: "utf8" }), "");
    assert.deepEqual(getfattr(join(rootless, "bin"), "user.origin"), Buffer.from("test"));
    assert.equal(q.xattrs.capsRootless, 1);
    assert.match(xattrNote(q.xattrs) ?? "", /^\(1 file capability not applied/);
  });

  test("owner first, capability after (chown clears it); many files in batches; LIBARCHIVE records", async () => {
    const root = place();
    const entries: Entry[] = [{ path: "opt", type: "dir" }];
    for (let i = 0; i < 150; i++)
      entries.push({ path: `opt/f${i}`, content: String(i), uid: 1000 + i, xattrs: { "security.capability": NET_RAW_EP } });
    entries.push({ path: "opt/la", content: "x", pax: { "LIBARCHIVE.xattr.user.la%3Dx": Buffer.from("v").toString("base64") } });
    entries.push({ path: "opt/lb", content: "x", pax: { "LIBARCHIVE.xattr.user.lb": Buffer.from("w").toString("base64") } });
    const r = await extract(root, entries);
    assert.equal(r.xattrs.applied, 151);
    assert.equal(r.xattrs.ignored, 1); // "user.la=x": not a name cm passes on
    for (const i of [0, 63, 64, 149]) assert.deepEqual(getfattr(join(root, `opt/f${i}`), "security.capability"), NET_RAW_EP, String(i));
    assert.deepEqual(getfattr(join(root, "opt/lb"), "user.lb"), Buffer.from("w"));
  });

  test("a path replaced later in the archive by a symlink to the outside: the attributes go to the file written, never through the link", async () => {
    const root = place();
    const outside = join(base, `outside-${n}`);
    mkdirSync(outside);
    writeFileSync(join(outside, "f"), "host file");
    await extract(root, [
      { path: "a", type: "dir" },
      { path: "a/f", content: "in the image", xattrs: { "security.capability": NET_RAW_EP, "user.x": "y" } },
      { path: "a", type: "symlink", linkname: outside },
    ]);
    assert.equal(getfattr(join(outside, "f"), "security.capability"), undefined);
    assert.equal(getfattr(join(outside, "f"), "user.x"), undefined);
    assert.equal(readFileSync(join(outside, "f"), "utf8"), "host file");
    assert.equal(existsSync(join(root, outside)), false);
  });
});
