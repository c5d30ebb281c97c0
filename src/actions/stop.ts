/**
 * cm stop: SIGTERM to the container's init, SIGKILL after the grace period, the runtime state
 * removed. A detached run's monitor records how it ended (143 for SIGTERM, 137 when it had to be
 * killed); for a container whose cm is gone cm stop records it itself.
 */
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { CmError } from "../errors.ts";
import { writeFileAtomic } from "../host/fs.ts";
import { sameProcess } from "../host/pid.ts";
import { stopContainer } from "../runtime/stop.ts";
import { RUN_FILES, readExit } from "../store/runs.ts";
import { resolveContainer, runtimeOf } from "./containers.ts";
import type { Context } from "./context.ts";

export async function stop(ctx: Context, name: string, graceSeconds: number): Promise<{ id: string; status: number | null | undefined }> {
  if (!Number.isFinite(graceSeconds) || graceSeconds < 0) {
    throw new CmError("usage", `stop: invalid --time ${graceSeconds}`, { hint: "give a whole number of seconds, 0 or more" });
  }
  const c = resolveContainer(ctx, name, ["running", "starting"]);
  const runtime = runtimeOf(ctx, c.record);
  // a container still starting is stopped once it runs (a stop that found nothing would let it start)
  const { cmPid, cmStart } = c.record;
  const killed = await stopContainer(runtime, c.record.id, graceSeconds, { ownerAlive: () => sameProcess(cmPid, cmStart) });
  if (c.record.detached && c.ownerAlive) {
    // the monitor records the exit status as it sees it end
    for (let i = 0; i < 100 && !readExit(c.dir); i++) await sleep(50);
  } else if (!c.ownerAlive && !readExit(c.dir)) {
    // nobody else will: an orphan (its cm was killed) is recorded as ended here. Its status is
    // known only when it had to be killed; after SIGTERM it chose its own, which nobody saw.
    const status = killed ? 137 : null;
    writeFileAtomic(join(c.dir, RUN_FILES.exit), JSON.stringify({ status, ended: new Date().toISOString() }), 0o600);
  }
  return { id: c.record.id, status: readExit(c.dir)?.status };
}
