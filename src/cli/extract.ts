/**
 * Internal: `cm __extract TARGET OPTIONS` extracts the tar stream on stdin into TARGET, keeping
 * owners, as root of a range user namespace (started by rootfs/userns.ts through `unshare`). Not
 * listed in cm --help. The result (or a CmError) is one JSON line on stdout; progress lines
 * ("progress BYTES ENTRIES") go to stderr.
 */
import { createReadStream, readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { PassThrough } from "node:stream";
import { type IdMap, toContainerId } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { extractTar } from "../tar/extract.ts";

export const usage = "Usage: cm __extract TARGET OPTIONS-JSON (internal: started by cm create in a user namespace)\n";

export interface ExtractRequest {
  what: string;
  whiteouts?: boolean;
  diffId?: string;
  /** the highest container uid and gid the namespace maps */
  maxIds: { uid: number; gid: number };
  /** the stream's owners are host ids of this mapping (dir: sources) */
  hostIds?: IdMap;
}

export async function main(argv: string[]): Promise<number> {
  const [target, json] = argv;
  if (argv.length !== 2 || !target || !json || !isAbsolute(target)) {
    throw new CmError("usage", "__extract: expects TARGET (absolute) and OPTIONS (started by cm create)");
  }
  // Only as root of a user namespace other than the host's (whose uid_map maps everything).
  const uidMap = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
  if (process.getuid?.() !== 0 || (uidMap[0] === "0" && uidMap[1] === "0" && uidMap[2] === "4294967295")) {
    throw new CmError("usage", "__extract runs only as root of a user namespace (started by cm create)");
  }
  const req = JSON.parse(json) as ExtractRequest;
  // Found by `cm gc` (processes working in a dead create's directory), and gone with the cm that started it.
  process.chdir(target);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 200).unref();
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
        : { code: "extract-failed", message: `could not extract ${req.what}: ${(err as Error)?.message ?? String(err)}` };
    process.stdout.write(`${JSON.stringify({ error: e })}\n`);
    return 1;
  }
}
