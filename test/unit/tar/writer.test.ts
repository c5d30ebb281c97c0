import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { readTar } from "../../../src/tar/reader.ts";
import { END_OF_ARCHIVE, encodeHeader, padding, type WriteEntry } from "../../../src/tar/writer.ts";

function archive(entries: (WriteEntry & { data?: string })[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? "");
    parts.push(encodeHeader({ ...e, size: data.length }), data, padding(data.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

const base = { mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 };
const long = `${"d".repeat(90)}/${"f".repeat(90)}`;
const entries: (WriteEntry & { data?: string })[] = [
  { ...base, path: "etc", type: "directory", mode: 0o755 },
  { ...base, path: "etc/passwd", type: "file", data: "root:x:0:0::/root:/bin/sh\n" },
  { ...base, path: "bin/sh", type: "symlink", linkpath: "busybox", mode: 0o777 },
  { ...base, path: "bin/ls", type: "hardlink", linkpath: "etc/passwd" },
  { ...base, path: long, type: "file", data: "x", uid: 100_000 + 42, gid: 3_000_000 },
  { ...base, path: "naïve-ünïcode", type: "file", data: "u", mode: 0o4755 },
  { ...base, path: "dev/null", type: "char", devmajor: 1, devminor: 3, mode: 0o666 },
  { ...base, path: "big-id", type: "file", data: "", uid: 2 ** 31, gid: 8 ** 7 },
];

test("what is written reads back exactly with cm's reader: long and non-ASCII names, links, devices, large ids (pax)", async () => {
  const seen: { path: string; type: string; mode: number; uid: number; gid: number; size: number; mtime: number; linkpath: string }[] = [];
  for await (const e of readTar(
    (async function* () {
      yield archive(entries);
    })(),
  )) {
    let body = "";
    for await (const c of e.body) body += c.toString();
    seen.push({
      path: e.path,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      size: body.length,
      mtime: e.mtime,
      linkpath: e.linkpath,
    });
  }
  assert.deepEqual(
    seen.map((s) => [s.path.replace(/\/$/, ""), s.type, s.uid, s.gid, s.linkpath, s.mode & 0o7777]),
    entries.map((e) => [e.path, e.type, e.uid, e.gid, e.linkpath ?? "", e.mode]),
  );
  for (const s of seen) assert.equal(s.mtime, 1_700_000_000);
});

test("GNU tar reads it too (numeric owners, long names from pax)", () => {
  const dir = mkdtempSync(join(tmpdir(), "cm-tarw-"));
  try {
    writeFileSync(join(dir, "a.tar"), archive(entries));
    const list = execFileSync("tar", ["-tvf", join(dir, "a.tar"), "--numeric-owner"], { encoding: "utf8" });
    assert.match(list, new RegExp(`100042/3000000 .* ${long}`));
    assert.match(list, /naïve-ünïcode/);
    assert.match(list, /bin\/sh -> busybox/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the same entries give the same bytes; ustar only when nothing needs pax", () => {
  assert.deepEqual(archive(entries), archive(entries));
  const plain = encodeHeader({ ...base, path: "etc/passwd", type: "file" });
  assert.equal(plain.length, 512, "no pax header for a short ASCII name");
  assert.equal(plain.subarray(257, 263).toString(), "ustar\0");
  assert.ok(encodeHeader({ ...base, path: long, type: "file" }).length > 512);
});

test("a negative or fractional number is a bug in the caller", () => {
  assert.throws(() => encodeHeader({ ...base, path: "x", type: "file", mtime: -1 }), /bad mtime/);
  assert.throws(() => encodeHeader({ ...base, path: "x", type: "file", size: 1.5 }), /bad size/);
});
