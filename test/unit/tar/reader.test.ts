import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { readTar } from "../../../src/tar/reader.ts";
import { tar } from "../../helpers/oci.ts";

const scratch = mkdtempSync(join(tmpdir(), "cm-tar-reader-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function* from(chunks: Buffer[]): AsyncGenerator<Buffer> {
  yield* chunks;
}

async function list(bytes: Buffer, chunk = 700): Promise<{ path: string; type: string; linkpath: string; data: string }[]> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.subarray(i, i + chunk));
  const out = [];
  for await (const e of readTar(from(chunks))) {
    const parts: Buffer[] = [];
    for await (const c of e.body) parts.push(c);
    out.push({ path: e.path, type: e.type, linkpath: e.linkpath, data: Buffer.concat(parts).toString() });
  }
  return out;
}

test("GNU tar's gnu and posix (pax) formats, with long names and links, in odd-sized chunks", async () => {
  const src = join(scratch, "src");
  const long = `${"d".repeat(120)}/${"f".repeat(130)}`;
  mkdirSync(join(src, "d".repeat(120)), { recursive: true });
  writeFileSync(join(src, long), "long file\n");
  writeFileSync(join(src, "small"), "s");
  symlinkSync(long, join(src, "link"));
  for (const format of ["gnu", "posix"]) {
    const file = join(scratch, `${format}.tar`);
    execFileSync("tar", ["-cf", file, `--format=${format}`, "-C", src, "--sort=name", "."]);
    const entries = await list(readFileSync(file));
    const byPath = new Map(entries.map((e) => [e.path.replace(/^\.\//, ""), e]));
    assert.equal(byPath.get(long)?.data, "long file\n", format);
    assert.equal(byPath.get("small")?.data, "s");
    assert.equal(byPath.get("link")?.type, "symlink");
    assert.equal(byPath.get("link")?.linkpath, long);
    assert.equal(byPath.get(`${"d".repeat(120)}/`)?.type ?? byPath.get("d".repeat(120))?.type, "directory");
  }
});

test("an entry body left unread is skipped; damaged archives are errors", async () => {
  const bytes = tar([
    { path: "a", content: "x".repeat(3000) },
    { path: "b", content: "second" },
  ]);
  const seen: string[] = [];
  for await (const e of readTar(from([bytes]))) {
    seen.push(e.path);
    if (e.path === "b") for await (const c of e.body) seen.push(c.toString());
  }
  assert.deepEqual(seen, ["a", "b", "second"]);
  const bad = Buffer.from(bytes);
  bad[10] = (bad[10] as number) ^ 1;
  await assert.rejects(list(bad), (e: unknown) => e instanceof CmError && /checksum/.test(e.message));
  await assert.rejects(list(bytes.subarray(0, 800)), (e: unknown) => e instanceof CmError && /ends in the middle/.test(e.message));
});
