/**
 * Stopping a container: SIGTERM, then SIGKILL once the grace period is over, then its runtime state
 * removed. Resolves to true when SIGKILL was needed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { OciRuntime } from "./oci-runtime.ts";

/** How long (ms) a stop waits for a container that is still being started by a live owner. */
export const START_WAIT_MS = 30_000;

export interface StopOptions {
  /**
   * Whether the container's owner (its cm run, or a detached run's monitor) still lives. While it
   * does and the runtime has no started container yet (no state, or "creating"/"created"), the
   * stop waits for the start, up to START_WAIT_MS: a container being created cannot be signalled
   * (runc kill needs "created" or "running", and an init that has not exec'd the command yet is
   * runc's own), and a stop that found nothing would let it start right after, with cm delete
   * already removing its root filesystem.
   */
  ownerAlive?: () => boolean;
}

export async function stopContainer(runc: OciRuntime, id: string, graceSeconds: number, opts: StopOptions = {}): Promise<boolean> {
  const gone = () => {
    const s = runc.state(id);
    return !s || s.status === "stopped";
  };
  if (opts.ownerAlive) await startedOrAbandoned(runc, id, opts.ownerAlive);
  let killed = false;
  if (!gone()) {
    runc.kill(id, "TERM");
    const deadline = Date.now() + graceSeconds * 1000;
    while (Date.now() < deadline && !gone()) await sleep(100);
    if (!gone()) {
      killed = true;
      runc.kill(id, "KILL");
      for (let i = 0; i < 50 && !gone(); i++) await sleep(100);
    }
  }
  runc.delete(id);
  return killed;
}

/** Resolves once the container runs (or stopped), its owner is gone, or START_WAIT_MS passed. */
async function startedOrAbandoned(runc: OciRuntime, id: string, ownerAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + START_WAIT_MS;
  for (;;) {
    const status = runc.state(id)?.status;
    const starting = status === undefined || status === "creating" || status === "created";
    if (!starting || !ownerAlive() || Date.now() >= deadline) return;
    await sleep(50);
  }
}
