/**
 * Writing a range-mode rootfs (see core/userns.ts): its files belong to the user's subordinate ids,
 * which an ordinary user cannot chown to. Every write therefore happens as root of a user namespace
 * with the bundle's own mapping, entered with util-linux `unshare --map-users` (newuidmap):
 *   - archives (tarballs, mmdebstrap's output, engine exports, image layers, dir: trees read by tar)
 *     go to cm itself re-executed there (`cm __extract`, cli/extract.ts): the same safe extractor,
 *     keeping owners, modes, setuid/setgid bits and file capabilities;
 *   - copies of cm's own trusted trees (a cached base, a bundle) are `cp -a` there.
 * Each helper works with its current directory in the target, so `cm gc` finds and stops what a
 * killed create left running (host/tree-users.ts), and the extractor ends when the cm that started it dies.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { Readable } from "node:stream";
import type { ExtractRequest, IdMap } from "../core/userns.ts";
import { CmError, type ErrorCode } from "../errors.ts";
import { inUserns } from "../host/idmap.ts";
import { exitStatus, requireTool, stderrTail } from "../host/tools.ts";
import type { ExtractProgress, ExtractResult } from "../tar/extract.ts";

/**
 * Spawns `file args` as root of the user namespace of `map`, in a process group of its own that an
 * interrupted cm kills whole: `unshare --map-users` forks a child that waits for its parent to
 * enter the namespace before running newuidmap, and would wait forever (holding our pipes) if only
 * the parent were stopped at that moment. Its working directory is `cwd` (the target), so `cm gc`
 * finds whatever a killed cm left running there.
 */
function spawnInUserns(map: IdMap, file: string, args: readonly string[], cwd: string, stdin: number | "pipe" | "ignore"): ChildProcess {
  const [f, a] = inUserns(map, file, args);
  const child = spawn(f, a, { stdio: [stdin, "pipe", "pipe"], cwd, detached: true });
  const stop = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  for (const s of SIGNALS) process.prependListener(s, stop);
  child.on("close", () => {
    for (const s of SIGNALS) process.off(s, stop);
  });
  return child;
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** The highest container ids a mapping covers (0 is the user, 1..count the range). */
export function maxIds(map: IdMap): { uid: number; gid: number } {
  return { uid: map.subuid.count, gid: map.subgid.count };
}

/**
 * Extracts `input` (a stream, or a file opened and handed over whole) into `target` as root of the
 * user namespace of `map`. Rejects with the extractor's own CmError (unsafe archive, digest, ...).
 */
export async function extractInUserns(
  map: IdMap,
  input: Readable | { file: string },
  target: string,
  opts: { what: string; whiteouts?: boolean; diffId?: string | undefined; hostIds?: boolean; onProgress?: (p: ExtractProgress) => void },
): Promise<ExtractResult> {
  const req: ExtractRequest = { what: opts.what, maxIds: maxIds(map) };
  if (opts.whiteouts) req.whiteouts = true;
  if (opts.diffId) req.diffId = opts.diffId;
  if (opts.hostIds) req.hostIds = map;
  const script = process.argv[1];
  if (!script) throw new CmError("internal", "cannot find cm's own script to re-execute");
  // (A ReadStream has a `path` too, of the whole file even when it reads a range: hence `file`.)
  const fd = input instanceof Readable ? undefined : openSync(input.file, "r");
  let child: ChildProcess;
  try {
    child = spawnInUserns(map, process.execPath, ["--", script, "__extract", target, JSON.stringify(req)], target, fd ?? "pipe");
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  let inputError: unknown;
  if (input instanceof Readable && child.stdin) {
    const stdin = child.stdin;
    stdin.on("error", () => {
      // the extractor stopped reading (it failed, and says why on stdout)
    });
    input.on("error", (err) => {
      inputError = err;
      stdin.destroy();
    });
    input.pipe(stdin);
  }
  let out = "";
  child.stdout?.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  let progressLine = "";
  const tail = stderrTail(child);
  child.stderr?.on("data", (d: Buffer | string) => {
    progressLine += String(d);
    const lines = progressLine.split("\n");
    progressLine = lines.pop() ?? "";
    for (const l of lines) {
      const m = /^progress (\d+) (\d+)$/.exec(l);
      if (m) opts.onProgress?.({ bytes: Number(m[1]), entries: Number(m[2]) });
    }
  });
  const status = await exitStatus(child);
  if (inputError !== undefined) throw inputError;
  // the reply of cm __extract: this same cm, so its codes are ours
  let reply: { result?: ExtractResult; error?: { code: ErrorCode; message: string; hint?: string } } = {};
  try {
    reply = JSON.parse(out.trim().split("\n").pop() ?? "{}");
  } catch {
    reply = {};
  }
  if (reply.error) throw new CmError(reply.error.code, reply.error.message, reply.error.hint ? { hint: reply.error.hint } : {});
  if (status === 0 && reply.result) return reply.result;
  const last = tail()
    .split("\n")
    .filter((l) => l && !l.startsWith("progress "))
    .pop();
  throw new CmError("userns-failed", `extracting ${opts.what} in your user namespace failed: ${last ?? `exit status ${status}`}`, {
    hint: "check /etc/subuid, /etc/subgid and newuidmap/newgidmap (cm doctor)",
  });
}

/**
 * `cp -a` of cm's own tree `from` into `to` as root of the user namespace of `map`: owners kept
 * (they are container ids there), or all given to container root with `ownership: false` (a range
 * tree copied into a single-id bundle).
 */
export function copyInUserns(map: IdMap, from: string, to: string, ownership = true): Promise<void> {
  const cpArgs = ["-a", "--reflink=auto", ...(ownership ? [] : ["--no-preserve=ownership"]), "--", `${from}/.`, `${to}/`];
  return new Promise((resolve, reject) => {
    const child = spawnInUserns(map, requireTool("cp"), cpArgs, to, "ignore");
    const stderr = stderrTail(child);
    child.on("error", (err) => reject(new CmError("spawn-failed", `could not run unshare: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) return resolve();
      const last = stderr().trim().split("\n").filter(Boolean).pop() ?? `exit ${code ?? signal}`;
      reject(new CmError("tool-failed", `copying ${from} in your user namespace failed: ${last}`));
    });
  });
}

/** A note for the final line when entries were owned by ids the mapping does not have. */
export function unmappedNote(n: number, map: IdMap): string | undefined {
  if (n === 0) return undefined;
  return `(${n} file(s) owned by ids above your range of ${Math.min(map.subuid.count, map.subgid.count)} were given to root)`;
}
