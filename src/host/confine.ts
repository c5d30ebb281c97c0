/**
 * Paths in the project directory are the container's to change: a container (or a cloned
 * repository) can replace `/project/cache` with a symlink to `/etc` or `~/.ssh`. A host path that
 * names something in the project must therefore still be in the project once symlinks are
 * resolved. Reads check what was actually opened (`/proc/self/fd/N`), so there is no window
 * between the check and the use.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readlinkSync } from "node:fs";
import { isWithin } from "../core/path.ts";
import { CmError } from "../errors.ts";
import { pathString, utf8 } from "./decoding.ts";

/**
 * Refuses `real` (a resolved path) when `lexical` (the path as given, absolute) is in `project`
 * but `real` is not: a symlink in the project led out of it. `what` names the value in the message.
 */
export function checkConfined(lexical: string, real: string, project: string, what: string): void {
  if (isWithin(lexical, project) && !isWithin(real, project)) {
    throw new CmError("path-leaves-project", `${what} ${lexical} leads out of the project directory (to ${real}) through a symbolic link`, {
      hint: "a container can change what is in the project: replace the link with a real directory or file, or give the outside path itself",
    });
  }
}

/**
 * Reads the regular file `path` (absolute); when `path` is in `project`, the file opened must be
 * in it too (checked on the open descriptor). Errors are the caller's to word: ENOENT, EISDIR
 * ("not a regular file") or a CmError.
 */
export function readFileConfined(path: string, project: string, what: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    checkConfined(path, fdPath(fd, path), project, what);
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error("not a regular file"), { code: "EISDIR" });
    const bytes = readFileSync(fd);
    const text = utf8(bytes);
    if (text === undefined) {
      throw new CmError("bad-path", `${what} ${path} is not valid UTF-8: cm would pass on other values than it holds`, {
        hint: "save it as UTF-8",
      });
    }
    return text;
  } finally {
    closeSync(fd);
  }
}

/** The path of an open descriptor (/proc/self/fd), refused when it is not valid UTF-8 (decoding.ts pathString). */
function fdPath(fd: number, given: string): string {
  return pathString(readlinkSync(`/proc/self/fd/${fd}`, { encoding: "buffer" }), given);
}

/** O_PATH (Linux, the same on x86_64 and aarch64): a descriptor that names a file without opening it for I/O. */
const O_PATH = 0o10000000;

/** A path as cm checked it: the real path and the identity of the object at that moment. */
export interface Checked {
  real: string;
  /** st_dev and st_ino as decimal strings (64-bit) */
  dev: string;
  ino: string;
}

/**
 * Opens `path` (following symlinks, as a mount source is followed) and reads the real path, device
 * and inode from that one descriptor: the three describe the same object even when the path is
 * being swapped meanwhile. Errors are the caller's to word (ENOENT...).
 */
export function openChecked(path: string): Checked {
  const fd = openSync(path, O_PATH); // libuv adds O_CLOEXEC;
  try {
    const real = fdPath(fd, path);
    const st = fstatSync(fd, { bigint: true });
    return { real, dev: st.dev.toString(), ino: st.ino.toString() };
  } finally {
    closeSync(fd);
  }
}
