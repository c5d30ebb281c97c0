/**
 * cm logs: the output of a detached run (<run dir>/container.log), also after it ended, until cm gc.
 * With follow, new output is written as it comes until the container has ended.
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CmError } from "../errors.ts";
import { RUN_FILES } from "../store/runs.ts";
import { inspect, logPath, resolveContainer } from "./containers.ts";
import type { Context } from "./context.ts";

export async function logs(ctx: Context, name: string, follow: boolean, out: (chunk: Buffer) => void): Promise<number> {
  const c = resolveContainer(ctx, name, ["running", "starting", "exited", "gone"]);
  if (!c.record.detached) {
    throw new CmError("no-logs", `container ${c.record.id} was not started with --detach: its output went to the terminal of cm run`, {
      hint: "cm run -d keeps a log",
    });
  }
  const path = logPath(c);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    throw new CmError("no-logs", `container ${c.record.id} has no log yet`, { hint: "try again in a moment" });
  }
  const buf = Buffer.alloc(64 * 1024);
  // The previous file of a log that reached its size limit (store/log.ts) comes first.
  try {
    const old = openSync(join(c.dir, RUN_FILES.oldLog), "r");
    try {
      for (let n = readSync(old, buf); n > 0; n = readSync(old, buf)) out(Buffer.from(buf.subarray(0, n)));
    } finally {
      closeSync(old);
    }
  } catch {
    // none
  }
  let pos = 0;
  /** Following: once the log was rotated, the rest of the old file, then the new one from its start. */
  const reopenIfRotated = () => {
    try {
      if (statSync(path).ino === fstatSync(fd).ino) return;
      drain();
      closeSync(fd);
      fd = openSync(path, "r");
      pos = 0;
    } catch {
      // between the rename and the new file: next time
    }
  };
  const drain = () => {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) return;
      pos += n;
      out(Buffer.from(buf.subarray(0, n)));
    }
  };
  try {
    drain();
    while (follow) {
      const now = inspect(c.dir, c.record);
      if (now.status === "exited" || now.status === "gone") {
        drain();
        break;
      }
      await sleep(100);
      drain();
      reopenIfRotated();
    }
  } finally {
    closeSync(fd);
  }
  return 0;
}
