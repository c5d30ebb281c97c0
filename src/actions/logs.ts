/**
 * cm logs: the output of a detached run (<run dir>/container.log), also after it ended, until cm gc.
 * With follow, new output is written as it comes until the container has ended.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { CmError } from "../errors.ts";
import { inspect, logPath, resolveContainer } from "./containers.ts";
import type { Context } from "./context.ts";

export async function logs(ctx: Context, name: string, follow: boolean, out: (chunk: Buffer) => void): Promise<number> {
  const c = resolveContainer(ctx, name, ["running", "starting", "exited", "gone"]);
  if (!c.record.detached) {
    throw new CmError("no-logs", `container ${c.record.id} was not started with --detach: its output went to the terminal of cm run`, {
      hint: "cm run -d keeps a log",
    });
  }
  let fd: number;
  try {
    fd = openSync(logPath(c), "r");
  } catch {
    throw new CmError("no-logs", `container ${c.record.id} has no log yet`, { hint: "try again in a moment" });
  }
  const buf = Buffer.alloc(64 * 1024);
  let pos = 0;
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
    }
  } finally {
    closeSync(fd);
  }
  return 0;
}
