/**
 * The one error type of cm. A CmError is a user-facing failure: it carries a one-line message,
 * an optional hint (what to do about it) and the exit code cm ends with. Anything else that
 * reaches the entry point is a bug in cm and is reported as such.
 */
export class CmError extends Error {
  override readonly name = "CmError";
  readonly code: string;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: string, message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? EXIT_CM_ERROR;
  }
}

/** cm's own failures (bad input, missing bundle, missing tools) exit with 125, as docker and podman do. */
export const EXIT_CM_ERROR = 125;
/** The command inside the container could not be executed. */
export const EXIT_NOT_EXECUTABLE = 126;
/** The command inside the container was not found. */
export const EXIT_NOT_FOUND = 127;

export function isErrno(err: unknown, code: string): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === code;
}

/**
 * Gives an errno error from a write (which Node reports without a path: "ENOSPC: ..., write") the
 * path it was about, so the entry point can name it. Returns `err` for rethrowing.
 */
export function withPath(err: unknown, path: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof Error && typeof e.code === "string" && e.path === undefined) e.path = path;
  return err;
}
