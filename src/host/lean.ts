/**
 * A memory-lean cm for commands that stream hundreds of megabytes through it (image layers,
 * tarballs). Two settings keep its resident memory low while it does, and both can only be made
 * when a process starts:
 *   - V8's young generation capped at 1 MB semi-spaces (`--max-semi-space-size=1`): by default it
 *     grows to 2 x 8 MB while chunks stream through, all of it resident;
 *   - glibc's malloc with a fixed mmap threshold of 64 KiB and two arenas: the 64 KiB chunks of
 *     streams are then mapped and unmapped one by one, where with the default (dynamic) threshold
 *     they come from the heap, fragment it, and ~20 MB of freed chunks stay resident.
 * `leanProcess()` re-executes cm once, before the command has done anything (same pid, arguments
 * and stdio), with both. Measured on a pull of the Debian minbase image (one 170 MB layer): peak
 * RSS 116-134 MB -> 95-102 MB, for the ~25 ms of a second Node start-up. The re-executed cm puts
 * back the environment it was started with, so the processes it starts inherit nothing of it.
 */

/** marks the re-executed cm; its value is the user's GLIBC_TUNABLES ("=VALUE", or "-" for unset) */
const MARK = "CM_LEAN";
const TUNABLES = "glibc.malloc.mmap_threshold=65536:glibc.malloc.arena_max=2";
const V8_FLAGS = ["--max-semi-space-size=1"];

export interface Exec {
  file: string;
  args: string[];
  env: Record<string, string | undefined>;
}

/**
 * How to re-execute this cm lean (pure): undefined when it already is (or cannot be). The user's
 * own GLIBC_TUNABLES come after cm's, so theirs win.
 */
export function leanExec(execPath: string, execArgv: string[], argv: string[], env: Record<string, string | undefined>): Exec | undefined {
  if (env[MARK] !== undefined || env.CM_NO_LEAN === "1") return undefined;
  const script = argv[1];
  if (script === undefined) return undefined;
  const user = env.GLIBC_TUNABLES;
  return {
    file: execPath,
    args: [execPath, ...execArgv.filter((a) => a !== "--"), ...V8_FLAGS, "--", script, ...argv.slice(2)],
    env: { ...env, GLIBC_TUNABLES: user ? `${TUNABLES}:${user}` : TUNABLES, [MARK]: user === undefined ? "-" : `=${user}` },
  };
}

/** In the re-executed cm: the environment as the user gave it (mutates `env`). */
export function restoreEnv(env: Record<string, string | undefined>): void {
  const mark = env[MARK];
  if (mark === undefined) return;
  delete env[MARK];
  if (mark === "-") delete env.GLIBC_TUNABLES;
  else env.GLIBC_TUNABLES = mark.slice(1);
}

/** Re-executes cm lean, unless it already is; returns (without doing anything) where it cannot. */
export function leanProcess(): void {
  const exec = leanExec(process.execPath, process.execArgv, process.argv, process.env);
  if (!exec) {
    restoreEnv(process.env);
    return;
  }
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string | undefined>) => never }).execve;
  if (typeof execve !== "function") return;
  try {
    execve.call(process, exec.file, exec.args, exec.env);
  } catch {
    // Cannot re-execute (exotic platform, seccomp): carry on as we are, only with more memory.
  }
}
