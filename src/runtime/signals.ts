/**
 * Signal forwarding while cm waits for a container process (runtime/oci-runtime.ts waitProcess): what cm
 * receives goes on to the container, through the runtime.
 */

/** What a foreground cm run, cm exec and post_create pass on (as docker run's sig-proxy). */
export const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** What the detached monitor passes on (a stop of the monitor stops the container, its status recorded). */
export const MONITOR_FORWARDED: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

/** After SIGHUP (the terminal went away), how long the container has to end before it is killed. */
export const HANGUP_GRACE_MS = 5000;
/** The SIGINT (Ctrl-C) that kills the container when the earlier ones did not end it. */
export const INTERRUPTS_TO_KILL = 3;

/**
 * Calls `send` for each of `signals` cm receives, until the returned function is called. With
 * `kill` (SIGKILL to the container, for a foreground run), a container is never left running
 * unattended: the third SIGINT kills it, and so does a SIGHUP it has not ended from within
 * HANGUP_GRACE_MS (nobody is attached any more). `kill` gets the reason.
 */
export function forwardSignals(
  signals: readonly NodeJS.Signals[],
  send: (signal: NodeJS.Signals) => void,
  kill?: (why: string) => void,
): () => void {
  let interrupts = 0;
  let hangup: NodeJS.Timeout | undefined;
  const handlers = signals.map((signal) => {
    const handler = () => {
      send(signal);
      if (!kill) return;
      if (signal === "SIGINT" && ++interrupts === INTERRUPTS_TO_KILL) kill(`interrupted ${interrupts} times`);
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
