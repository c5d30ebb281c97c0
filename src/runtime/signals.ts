/**
 * Signal forwarding while cm waits for a container process (runtime/runc.ts waitProcess): what cm
 * receives goes on to the container, through the runtime.
 */

/** What a foreground cm run, cm exec and post_create pass on (as docker run's sig-proxy). */
export const FORWARDED: readonly NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];

/** What the detached monitor passes on (a stop of the monitor stops the container, its status recorded). */
export const MONITOR_FORWARDED: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

/** Calls `send` for each of `signals` cm receives, until the returned function is called. */
export function forwardSignals(signals: readonly NodeJS.Signals[], send: (signal: NodeJS.Signals) => void): () => void {
  const handlers = signals.map((signal) => {
    const handler = () => send(signal);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
