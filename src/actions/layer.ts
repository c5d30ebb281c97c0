/** cm __layer: the tar of a directory, ids as this process sees them (cm export runs it in a user namespace). */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { tarChunks } from "../image/layer.ts";

/** Writes the uncompressed tar of `dir` to `out`, times clamped to `epoch` (seconds). */
export async function writeTreeTar(dir: string, epoch: number, out: NodeJS.WritableStream): Promise<void> {
  const counts = { entries: 0 };
  const same = (id: number) => id;
  await pipeline(Readable.from(tarChunks([{ dir, at: "", uid: same, gid: same }], epoch, counts), { objectMode: false }), out);
}
