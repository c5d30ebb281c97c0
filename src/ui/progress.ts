/**
 * Progress of long work (bootstrap, extraction, copy).
 *
 * On a terminal (and without --quiet), the current phase is shown by a spinner line (the small
 * `yocto-spinner` library, loaded only then) with its elapsed time and a detail such as bytes and
 * entries extracted; a finished phase stays on screen as one line with its duration. Otherwise
 * (--quiet, or stderr not a terminal) nothing is printed but the final line; errors are the caller's.
 */

import { escapeControls } from "../core/names.ts";
import { formatBytes } from "../core/size.ts";

export interface Progress {
  /** a new phase starts ("bootstrapping debian:bookworm with mmdebstrap") */
  phase(text: string): void;
  /** detail of the current phase ("120.3MiB, 5120 entries"); cheap to call often */
  detail(text: string): void;
  /** the final line (always printed) */
  done(text: string): void;
  /** stops the spinner, if any, without a final line (on errors) */
  stop(): void;
}

interface SpinnerLike {
  text: string;
  start(text?: string): unknown;
  success(text?: string): unknown;
  stop(text?: string): unknown;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

export function makeProgress(opts: { quiet: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  const start = Date.now();
  const live = !opts.quiet && stream.isTTY === true;
  if (!live) {
    return {
      phase() {},
      detail() {},
      done(text) {
        stream.write(`cm: ${text} in ${seconds(Date.now() - start)}\n`);
      },
      stop() {},
    };
  }

  let spinner: SpinnerLike | undefined;
  let stopped = false;
  let phase: string | undefined;
  let phaseStart = start;
  let detail = "";
  let timer: NodeJS.Timeout | undefined;
  const line = () => `${phase ?? ""}${detail ? ` — ${detail}` : ""} (${seconds(Date.now() - phaseStart)})`;
  const loading = import("yocto-spinner").then(({ default: yoctoSpinner }) => {
    if (stopped) return;
    spinner = yoctoSpinner({ stream, handleSignals: false }) as SpinnerLike;
    if (phase !== undefined) spinner.start(line());
  });
  loading.catch(() => {
    // no spinner: the final line is still printed
  });
  const refresh = () => {
    if (spinner && phase !== undefined) spinner.text = line();
  };
  const finishPhase = () => {
    if (phase !== undefined && spinner) spinner.success(`${phase} (${seconds(Date.now() - phaseStart)})`);
  };
  return {
    phase(text) {
      finishPhase();
      phase = escapeControls(text); // it can name what an image or a rootfs chose (a user, a path)
      detail = "";
      phaseStart = Date.now();
      spinner?.start(line());
      timer ??= setInterval(refresh, 200).unref();
    },
    detail(text) {
      detail = escapeControls(text);
    },
    done(text) {
      finishPhase();
      this.stop();
      stream.write(`cm: ${text} in ${seconds(Date.now() - start)}\n`);
    },
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      if (spinner && phase !== undefined) spinner.stop();
      phase = undefined;
    },
  };
}

/** A throttled extraction reporter: "12.3MiB, 456 entries". */
export function extractionDetail(progress: Progress): (p: { bytes: number; entries: number }) => void {
  let last = 0;
  return (p) => {
    const now = Date.now();
    if (now - last < 100) return;
    last = now;
    progress.detail(`${formatBytes(p.bytes)}, ${p.entries} entries`);
  };
}
