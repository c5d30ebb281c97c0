/**
 * The work of `cm __extract` (cli/extract.ts checked where it runs): the tar stream on stdin
 * extracted into TARGET (the current directory) keeping owners, the result or the CmError as one
 * JSON line on stdout, progress lines ("progress BYTES ENTRIES") on stderr. Resolves to the exit status.
 */
import { createReadStream } from "node:fs";
import { PassThrough } from "node:stream";
import { type ExtractRequest, toContainerId } from "../core/userns.ts";
import { CmError, type ErrorCode } from "../errors.ts";
import { extractTar } from "../tar/extract.ts";

export async function extractHere(target: string, req: ExtractRequest): Promise<number> {
  const map = req.hostIds;
  let last = 0;
  try {
    // fd 0 must stay open: the extractor destroys its input at the end, and Node's ReadStream then
    // closes its descriptor (autoClose or not), so the next pipe (setfattr's) would get fd 0, which
    // libuv aborts on. The extractor gets a PassThrough; the descriptor's own stream is never destroyed.
    const input = new PassThrough({ highWaterMark: 1 << 20 });
    const raw = createReadStream("", { fd: 0, autoClose: false, highWaterMark: 1 << 20 });
    raw.on("error", (err) => input.destroy(err));
    raw.pipe(input);
    const r = await extractTar(input, target, {
      rootless: false,
      what: req.what,
      whiteouts: req.whiteouts === true,
      diffId: req.diffId,
      maxIds: req.maxIds,
      hostIds: map ? (u, g) => [toContainerId(u, map.uid, map.subuid), toContainerId(g, map.gid, map.subgid)] : undefined,
      onProgress: (p) => {
        if (p.entries - last < 256) return;
        last = p.entries;
        process.stderr.write(`progress ${p.bytes} ${p.entries}\n`);
      },
    });
    process.stdout.write(`${JSON.stringify({ result: r })}\n`);
    return 0;
  } catch (err) {
    const e =
      err instanceof CmError
        ? { code: err.code, message: err.message, hint: err.hint }
        : { code: "extract-failed" as ErrorCode, message: `could not extract ${req.what}: ${(err as Error)?.message ?? String(err)}` };
    process.stdout.write(`${JSON.stringify({ error: e })}\n`);
    return 1;
  }
}
