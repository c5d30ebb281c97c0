/**
 * Signal forwarding for a foreground container: what cm receives, runc receives, and runc passes
 * on to the container's process. Returns a function that stops forwarding.
 */
import type { ChildProcess } from "node:child_process";

export const FORWARDED: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** After SIGHUP (the terminal went away), how long the container has to end before it is killed. */
export const HANGUP_GRACE_MS = 5000;
/** The SIGINT (Ctrl-C) that kills the container when the earlier ones did not end it. */
export const INTERRUPTS_TO_KILL = 3;

/**
 * Forwards what cm receives to `child` (the runtime, which passes it on). With `kill` (SIGKILL to
 * the container), a container is never left running unattended: the third SIGINT kills it, and
 * so does a SIGHUP it has not ended from within HANGUP_GRACE_MS (nobody is attached any more).
 */
export function forwardSignals(child: ChildProcess, kill?: (why: string) => void): () => void {
  let interrupts = 0;
  let hangup: NodeJS.Timeout | undefined;
  const handlers = FORWARDED.map((signal) => {
    const handler = () => {
      child.kill(signal);
      if (!kill) return;
      if (signal === "SIGINT" && ++interrupts >= INTERRUPTS_TO_KILL) kill(`interrupted ${interrupts} times`);
      if (signal === "SIGHUP" && !hangup) hangup = setTimeout(() => kill("its terminal hung up"), HANGUP_GRACE_MS);
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    if (hangup) clearTimeout(hangup);
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
