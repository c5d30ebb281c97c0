/**
 * Progress of long work (bootstrap, extraction, copy). On a terminal each phase is shown as it
 * starts; otherwise, or with --quiet, only the final line is printed. Errors are the caller's.
 */
export interface Progress {
  phase(text: string): void;
  done(text: string): void;
}

export function makeProgress(opts: { quiet: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  const start = Date.now();
  const elapsed = () => `${((Date.now() - start) / 1000).toFixed(1)}s`;
  const live = !opts.quiet && stream.isTTY === true;
  return {
    phase(text) {
      if (live) stream.write(`cm: ${text} (${elapsed()})\n`);
    },
    done(text) {
      stream.write(`cm: ${text} in ${elapsed()}\n`);
    },
  };
}
