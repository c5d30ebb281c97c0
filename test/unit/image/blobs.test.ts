import assert from "node:assert/strict";
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { BlobStore, type Download, sha256 } from "../../../src/image/blob-store.ts";

const scratch = mkdtempSync(join(tmpdir(), "cm-blobs-"));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const store = () => new BlobStore(join(scratch, `c${n++}`));
const data = Buffer.from("0123456789".repeat(1000));
const desc = { mediaType: "x", digest: sha256(data), size: data.length };
async function* chunks(b: Buffer, cutAt?: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += 1000) {
    if (cutAt !== undefined && i >= cutAt) throw new TypeError("terminated");
    yield b.subarray(i, i + 1000);
  }
}

describe("blob cache", () => {
  test("downloads once, verified; a second ensure asks nothing", async () => {
    const s = store();
    const offsets: number[] = [];
    const open = async (o: number): Promise<Download> => {
      offsets.push(o);
      return { status: 200, body: chunks(data) };
    };
    const path = await s.ensure(desc, "blob", open, () => {});
    assert.deepEqual(readFileSync(path), data);
    await s.ensure(desc, "blob", open, () => {});
    assert.deepEqual(offsets, [0]);
    assert.deepEqual(
      readdirSync(s.root).filter((f) => f.startsWith(".")),
      [],
    );
  });

  test("a dropped connection resumes from the partial file with a Range", async () => {
    const s = store();
    const offsets: number[] = [];
    const open = async (o: number): Promise<Download> => {
      offsets.push(o);
      if (o === 0) return { status: 200, body: chunks(data, 4000) };
      return { status: 206, rangeStart: o, body: chunks(data.subarray(o)) };
    };
    assert.deepEqual(readFileSync(await s.ensure(desc, "blob", open, () => {})), data);
    assert.deepEqual(offsets, [0, 4000]);
  });

  test("a partial file left by a killed cm is resumed; a server ignoring Range restarts it", async () => {
    const s = store();
    mkdirSync(s.root, { recursive: true });
    writeFileSync(join(s.root, `.${desc.digest.slice(7)}.partial`), data.subarray(0, 3000));
    const offsets: number[] = [];
    const open = async (o: number): Promise<Download> => {
      offsets.push(o);
      return { status: 200, body: chunks(data) };
    };
    assert.deepEqual(readFileSync(await s.ensure(desc, "blob", open, () => {})), data);
    assert.deepEqual(offsets, [3000]);
  });

  test("wrong content or too many bytes: digest-mismatch, nothing kept", async () => {
    for (const body of [Buffer.from(data).fill(0x41, 10, 11), Buffer.concat([data, Buffer.from("x")])]) {
      const s = store();
      await assert.rejects(
        s.ensure(
          desc,
          "blob",
          async () => ({ status: 200, body: chunks(body) }),
          () => {},
        ),
        (e: unknown) => e instanceof CmError && e.code === "digest-mismatch",
      );
      assert.equal(existsSync(s.path(desc.digest)), false);
      assert.deepEqual(
        readdirSync(s.root).filter((f) => f.endsWith(".partial")),
        [],
      );
    }
  });

  test("always truncated: fails after a few attempts with a one-line error", async () => {
    const s = store();
    await assert.rejects(
      s.ensure(
        desc,
        "blob",
        async (o) => ({ status: 200, body: chunks(data.subarray(0, 100 + o)) }),
        () => {},
        2,
      ),
      (e: unknown) => e instanceof CmError && e.code === "download-failed" && /blob/.test(e.message),
    );
    assert.equal(existsSync(s.path(desc.digest)), false);
  });

  test("ensureOpen: the blob comes back open, readable whole after it was removed (cm cache prune)", async () => {
    const s = store();
    const open = async (): Promise<Download> => ({ status: 200, body: chunks(data) });
    for (const round of ["downloaded", "cached"]) {
      const fd = await s.ensureOpen(desc, "blob", open, () => {});
      rmSync(s.path(desc.digest));
      try {
        assert.deepEqual(readFileSync(fd), data, round);
      } finally {
        closeSync(fd);
      }
      if (round === "downloaded") await s.ensure(desc, "blob", open, () => {});
    }
  });

  test("put: a manifest is written under a dot-name, then renamed: nothing else is left", () => {
    const s = store();
    s.put(desc.digest, data);
    assert.deepEqual(readdirSync(s.root), [desc.digest.slice(7)]);
  });
});
