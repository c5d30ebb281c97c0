/**
 * Progress of long work (bootstrap, extraction, copy, downloads). On a terminal each phase is shown
 * as it starts and `status` keeps one line updated in place (byte counts); otherwise, or with
 * --quiet, only the final line is printed. Errors are the caller's.
 */
export interface Progress {
  phase(text: string): void;
  /** a transient status line, rewritten in place on a terminal (at most ~10 times a second) */
  status(text: string): void;
  done(text: string): void;
}

export function makeProgress(opts: { quiet: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  const start = Date.now();
  const elapsed = () => `${((Date.now() - start) / 1000).toFixed(1)}s`;
  const live = !opts.quiet && stream.isTTY === true;
  let shown = false;
  let last = 0;
  const clear = () => {
    if (shown) stream.write("\r\x1b[K");
    shown = false;
  };
  return {
    phase(text) {
      if (!live) return;
      clear();
      stream.write(`cm: ${text} (${elapsed()})\n`);
    },
    status(text) {
      if (!live) return;
      const now = Date.now();
      if (shown && now - last < 100) return;
      last = now;
      const width = Math.max(20, (stream.columns ?? 80) - 1);
      stream.write(`\r\x1b[K${text.length > width ? `${text.slice(0, width - 1)}…` : text}`);
      shown = true;
    },
    done(text) {
      if (live) clear();
      stream.write(`cm: ${text} in ${elapsed()}\n`);
    },
  };
}
