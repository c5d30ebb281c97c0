/**
 * The one error type of cm. A CmError is a user-facing failure: it carries a one-line message,
 * an optional hint (what to do about it) and the exit code cm ends with. Anything else that
 * reaches the entry point is a bug in cm and is reported as such.
 */
/**
 * Every kind of CmError, by what went wrong (kebab-case; tests and callers compare them, so a
 * typo is a type error). Add a code here when no existing one names the failure.
 */
export type ErrorCode =
  // the command line and its values
  | "usage"
  | "bad-name"
  | "bad-size"
  | "bad-cpus"
  | "bad-pids-limit"
  | "bad-network"
  | "bad-env"
  | "bad-env-file"
  | "bad-volume"
  | "bad-workdir"
  | "bad-ulimit"
  | "ulimit-too-high"
  | "bad-runtime"
  | "bad-seccomp"
  | "bad-platform"
  | "bad-reference"
  | "bad-source"
  | "limit-unsupported"
  | "runtime-unsupported"
  | "bad-allow-host"
  | "bad-host-ca"
  // projects, bundles, containers
  | "bad-project"
  | "bad-path"
  | "bad-project-file"
  | "no-project"
  | "project-mismatch"
  | "no-cwd"
  | "no-bundle"
  | "bad-bundle"
  | "bundle-exists"
  | "bundle-busy"
  | "bundle-deleted"
  | "delete-incomplete"
  | "no-container"
  | "ambiguous-container"
  | "not-running"
  | "no-logs"
  | "no-terminal"
  | "mount-in-tree"
  | "busy-tree"
  | "unsafe-state-dir"
  | "unsafe-data"
  | "bad-dir"
  | "unsafe-dir"
  | "remove-failed"
  | "interrupted"
  | "aborted"
  // project files and mounts cm checks (cm trust, the mount check)
  | "untrusted-project-file"
  | "no-project-file"
  | "config-dir"
  | "unsafe-config-dir"
  | "path-leaves-project"
  | "project-moved"
  | "mount-check"
  // rootless id mappings (--userns)
  | "userns-unavailable"
  | "userns-failed"
  // reviewed runs (--review) and the egress proxy (--allow-host)
  | "no-review"
  | "review-running"
  | "review-conflict"
  | "review-unsupported"
  | "review-busy"
  | "review-damaged"
  | "diff-failed"
  | "proxy-failed"
  // cm export
  | "export-userns"
  | "export-target"
  | "export-unreadable"
  | "export-changed"
  | "kube-unsupported"
  // root filesystems, archives, images
  | "no-base"
  | "bootstrap-failed"
  | "post-create-failed"
  | "bad-archive"
  | "bad-tar"
  | "unsafe-archive"
  | "symlink-loop"
  | "extract-failed"
  | "bad-oci-layout"
  | "bad-docker-archive"
  | "bad-manifest"
  | "bad-image-user"
  | "unsupported-media-type"
  | "no-matching-platform"
  | "image-not-found"
  | "digest-mismatch"
  // registries and credentials
  | "registry-error"
  | "registry-unreachable"
  | "insecure-redirect"
  | "unauthorized"
  | "download-failed"
  | "bad-auth-file"
  | "credential-helper-missing"
  | "credential-helper-failed"
  // host tools and the runtime
  | "tool-missing"
  | "tool-failed"
  | "spawn-failed"
  | "start-failed"
  | "command-not-found"
  | "command-not-executable"
  | "internal";

export class CmError extends Error {
  override readonly name = "CmError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, opts: { hint?: string; exitCode?: number; cause?: unknown } = {}) {
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
