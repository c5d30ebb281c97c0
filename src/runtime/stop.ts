/**
 * Stopping a container: SIGTERM, then SIGKILL once the grace period is over, then its runtime state
 * removed. Resolves to true when SIGKILL was needed.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { OciRuntime } from "./oci-runtime.ts";

export async function stopContainer(runc: OciRuntime, id: string, graceSeconds: number): Promise<boolean> {
  const gone = () => {
    const s = runc.state(id);
    return !s || s.status === "stopped";
  };
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
