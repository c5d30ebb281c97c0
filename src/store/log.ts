/**
 * A detached run's log, bounded: <run dir>/container.log up to `maxBytes`, then it becomes
 * container.log.1 (replacing the previous one) and a new container.log starts: at most 2 x maxBytes
 * on disk, the newest output kept, as Docker's json-file driver with max-size and max-file=2.
 * The default (DEFAULT_LOG_MAX_BYTES, 10 MiB) is what `cm run -d` uses without --log-max-size: a
 * container writing without pause (`yes`) cannot fill the state directory (a RAM filesystem, /run,
 * for root on most machines).
 */
import { closeSync, fstatSync, linkSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { RUN_FILES } from "./runs.ts";

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;

export class CappedLog {
  private fd: number;
  private size: number;
  private readonly path: string;
  private readonly old: string;
  private readonly maxBytes: number;

  /** Opens (appending to) the log of run directory `dir`; `maxBytes` >= 1. */
  constructor(dir: string, maxBytes: number) {
    this.maxBytes = maxBytes;
    this.path = join(dir, RUN_FILES.log);
    this.old = join(dir, RUN_FILES.oldLog);
    this.fd = openSync(this.path, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  private failed = false;

  /**
   * Appends `chunk`, rotating whenever the current file would pass maxBytes. A log that cannot be
   * written (a full state directory) drops the output from then on: the container is not stopped
   * for it, and its pipes are still drained.
   */
  write(chunk: Buffer): void {
    if (this.failed) return;
    try {
      this.append(chunk);
    } catch {
      this.failed = true;
    }
  }

  private append(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.size >= this.maxBytes) this.rotate();
      const n = Math.min(rest.length, this.maxBytes - this.size);
      writeSync(this.fd, rest, 0, n);
      this.size += n;
      rest = rest.subarray(n);
    }
  }

  /** container.log always exists for readers: the old file is linked aside, the new one renamed over it. */
  private rotate(): void {
    closeSync(this.fd);
    const linked = `${this.old}.tmp`;
    const fresh = `${this.path}.tmp`;
    rmSync(linked, { force: true });
    linkSync(this.path, linked);
    renameSync(linked, this.old);
    this.fd = openSync(fresh, "w", 0o600);
    renameSync(fresh, this.path);
    this.size = 0;
  }

  close(): void {
    closeSync(this.fd);
  }
}
