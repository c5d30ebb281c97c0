/** Stopping a container: SIGTERM, then SIGKILL once the grace period is over, then its runc state removed. */
import { setTimeout as sleep } from "node:timers/promises";
import type { Runc } from "./runc.ts";

export async function stopContainer(runc: Runc, id: string, graceSeconds: number): Promise<void> {
  const state = runc.state(id);
  if (state && state.status !== "stopped") {
    runc.kill(id, "TERM");
    const deadline = Date.now() + graceSeconds * 1000;
    while (Date.now() < deadline) {
      const s = runc.state(id);
      if (!s || s.status === "stopped") break;
      await sleep(100);
    }
    const s = runc.state(id);
    if (s && s.status !== "stopped") {
      runc.kill(id, "KILL");
      for (let i = 0; i < 50; i++) {
        const k = runc.state(id);
        if (!k || k.status === "stopped") break;
        await sleep(100);
      }
    }
  }
  runc.delete(id);
}
