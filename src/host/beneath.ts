/**
 * Path operations below a directory that someone else may change at the same time (a project
 * directory that a running container writes). A path checked first and used later can have a
 * parent swapped for a symlink in between, and the operation then lands outside the directory.
 * Node has no `openat`/`renameat`, so each parent is opened component by component with
 * `O_NOFOLLOW | O_DIRECTORY` (a pinned inode), and the operation goes through
 * `/proc/self/fd/FD/NAME`: the kernel resolves the magic link to the opened directory itself, not
 * to whatever its path names now, and NAME is one component (the operation's own rule for a final
 * symlink applies: rename, unlink, mkdir and symlink never follow it).
 */
import { closeSync, constants, openSync } from "node:fs";

/** A path of one component below an open directory, for the *Sync calls of node:fs. */
export function atPath(dirFd: number, name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/"))
    throw new Error(`not one path component: ${JSON.stringify(name)}`);
  return `/proc/self/fd/${dirFd}/${name}`;
}

/**
 * Opens `root/rel` (rel: "" or components joined by "/") as a directory without following any
 * symlink below `root`. Returns its fd (the caller closes it). Errors: the errno of the first
 * component that is missing (ENOENT), a symlink (ELOOP) or not a directory (ENOTDIR).
 */
export function openDirBeneath(root: string, rel: string): number {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
  let fd = openSync(root, flags);
  for (const part of rel.split("/").filter(Boolean)) {
    let next: number;
    try {
      next = openSync(atPath(fd, part), flags);
    } finally {
      closeSync(fd);
    }
    fd = next;
  }
  return fd;
}

/** Opens `name` below `dirFd` without following a final symlink and without blocking (FIFOs), for fchmod/fchown. */
export function openNoFollow(dirFd: number, name: string): number {
  return openSync(atPath(dirFd, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
}
