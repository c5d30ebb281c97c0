/**
 * Does a command exist inside the container? Answered from the host before runc starts, so that a
 * missing command exits 127 and a non-executable one 126, as a shell would (runc itself exits 1
 * for both). Paths are resolved as the container sees them (throughMounts): bind mounts first,
 * then the rootfs, symlinks followed inside the container.
 */
import { closeSync, constants, openSync, readdirSync, readSync, statSync } from "node:fs";
import { posix } from "node:path";
import { isWithin } from "../core/path.ts";
import { argvTooLong, classifyHeader, ELF_MACHINE, HEADER_BYTES, type StartFailure } from "../core/run/startup.ts";
import { CmError, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from "../errors.ts";
import { walkContainerPath } from "../host/fs.ts";

export interface Lookup {
  cwd: string;
  path: string;
  mounts: { destination: string; source: string }[];
}

export type Found = "found" | "not-found" | "not-executable";

/** Host path for a container path: through the longest matching bind mount, else in the rootfs. */
function hostPath(rootfs: string, containerPath: string, mounts: Lookup["mounts"]): string {
  return throughMounts(
    rootfs,
    containerPath,
    mounts.map((m) => ({ ...m, bind: true })),
  ) as string;
}

/**
 * Where `containerPath` is on the host once `mounts` (in the spec's order) are made, resolved as
 * the container will resolve it: component by component, each through the longest (then latest)
 * mount at or above it when that is a bind, else in the rootfs (also under --ephemeral's overlay
 * at /, which shows the rootfs until the container writes); a symlink met anywhere, in the rootfs
 * or in a bind source such as the project, is followed inside the container (an absolute target
 * starts again at the container's /), never on the host, so a link the container planted in
 * /project cannot make cm look at a host file. Undefined below any other mount (the runtime's
 * /dev, a tmpfs, an overlay). Throws CmError "symlink-loop" after 40 links (host/fs.ts walkContainerPath).
 */
function throughMounts(rootfs: string, containerPath: string, mounts: readonly PlacedMount[]): string | undefined {
  const hostOf = (parts: readonly string[]): string | undefined => {
    const p = `/${parts.join("/")}`;
    let best: PlacedMount | undefined;
    for (const m of mounts) {
      if (m.destination !== "/" && isWithin(p, m.destination) && (!best || m.destination.length >= best.destination.length)) best = m;
    }
    if (!best) return posix.join(rootfs, p);
    return best.bind && best.source ? best.source + p.slice(best.destination.length) : undefined;
  };
  // missing (or below a file): the rest as written, for the caller's stat to say which
  return walkContainerPath(
    hostOf,
    containerPath.split("/"),
    (_host, st) => (st ? "descend" : "stop"),
    () => {
      throw new CmError("symlink-loop", `too many symbolic links resolving ${containerPath} inside the container`);
    },
  );
}

function probe(host: string): Found {
  try {
    const st = statSync(host);
    if (st.isFile() && (st.mode & 0o111) !== 0) return "found";
    return "not-executable";
  } catch {
    return "not-found";
  }
}

export function findCommand(rootfs: string, command: string, lookup: Lookup): Found {
  return locateCommand(rootfs, command, lookup).found;
}

/** findCommand, with the host path of what was found (the file the container would execute). */
export function locateCommand(rootfs: string, command: string, lookup: Lookup): { found: Found; host?: string } {
  if (command === "") return { found: "not-found" };
  if (command.includes("/")) {
    const abs = command.startsWith("/") ? command : posix.join(lookup.cwd, command);
    const host = hostPath(rootfs, abs, lookup.mounts);
    return { found: probe(host), host };
  }
  let sawNonExecutable = false;
  for (const dir of lookup.path.split(":")) {
    if (!dir.startsWith("/")) continue;
    const host = hostPath(rootfs, posix.join(dir, command), lookup.mounts);
    const r = probe(host);
    if (r === "found") return { found: r, host };
    if (r === "not-executable") sawNonExecutable = true;
  }
  return { found: sawNonExecutable ? "not-executable" : "not-found" };
}

export interface StartCheck extends Lookup {
  /** what the process would be started with: argv (the init's words included) and its environment */
  args: readonly string[];
  env: readonly string[];
  /** the container's RLIMIT_STACK soft limit in bytes (Infinity: unlimited) */
  stackSoft: number;
  /** Node's process.arch, for the ELF machine check */
  arch: string;
  /** names the place in messages: "bundle NAME" or "container ID" */
  where: string;
}

/**
 * Everything that would make execve fail for the command `command` (found by locateCommand at
 * `host`): a directory or a file without execute permission (126), a `#!` interpreter or an ELF
 * dynamic loader missing inside (127), a file in no executable format or for another machine
 * (126), argv + environment over the kernel's limits (126). Undefined when it should start.
 * A file cm cannot read is left to the kernel.
 */
export function startFailure(rootfs: string, command: string, check: StartCheck): StartFailure | undefined {
  const { found, host } = locateCommand(rootfs, command, check);
  if (found === "not-found") return { status: EXIT_NOT_FOUND, reason: `${command}: command not found in ${check.where}` };
  if (found === "not-executable" || !host) {
    const dir = host !== undefined && isDirectory(host);
    return { status: EXIT_NOT_EXECUTABLE, reason: `${command}: ${dir ? "is a directory" : "not executable"} in ${check.where}` };
  }
  const failure = fileFailure(rootfs, command, host, check, 0);
  if (failure) return failure;
  const tooLong = argvTooLong(check.args, check.env, check.stackSoft);
  if (tooLong) return { status: EXIT_NOT_EXECUTABLE, reason: `${command}: argument list too long: ${tooLong}` };
  return undefined;
}

/** Linux follows at most 4 levels of #! interpreters (BINPRM_MAX_RECURSION). */
const MAX_INTERPRETER_DEPTH = 4;

function fileFailure(rootfs: string, command: string, host: string, check: StartCheck, depth: number): StartFailure | undefined {
  const header = readHeader(host);
  if (!header) return undefined;
  const h = classifyHeader(header.head, header.readAt);
  header.close();
  if (h.kind === "unknown") {
    return { status: EXIT_NOT_EXECUTABLE, reason: `${command}: exec format error in ${check.where}: not an executable and no #! line` };
  }
  if (h.kind === "elf") {
    const own = ELF_MACHINE[check.arch];
    if (own !== undefined && h.machine !== own && !binfmtMisc()) {
      return { status: EXIT_NOT_EXECUTABLE, reason: `${command}: exec format error in ${check.where}: a program for another machine type` };
    }
    if (h.interpreter && locateCommand(rootfs, h.interpreter, { ...check, cwd: "/" }).found !== "found") {
      return {
        status: EXIT_NOT_FOUND,
        reason: `${command}: its dynamic loader ${h.interpreter} is missing in ${check.where}`,
      };
    }
    return undefined;
  }
  // the kernel resolves a relative interpreter against the working directory
  const interp = locateCommand(rootfs, h.interpreter.startsWith("/") ? h.interpreter : posix.join(check.cwd, h.interpreter), check);
  if (interp.found === "not-found") {
    return { status: EXIT_NOT_FOUND, reason: `${command}: its interpreter ${h.interpreter} (the #! line) is not found in ${check.where}` };
  }
  if (interp.found === "not-executable" || !interp.host) {
    return {
      status: EXIT_NOT_EXECUTABLE,
      reason: `${command}: its interpreter ${h.interpreter} (the #! line) is not executable in ${check.where}`,
    };
  }
  if (depth + 1 >= MAX_INTERPRETER_DEPTH) return undefined;
  return fileFailure(rootfs, h.interpreter, interp.host, check, depth + 1);
}

function readHeader(host: string): { head: Buffer; readAt: (offset: number, length: number) => Buffer; close: () => void } | undefined {
  let fd: number;
  try {
    fd = openSync(host, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  const readAt = (offset: number, length: number) => {
    const buf = Buffer.alloc(Math.max(0, Math.min(length, 65536)));
    try {
      return buf.subarray(0, readSync(fd, buf, 0, buf.length, offset));
    } catch {
      return Buffer.alloc(0);
    }
  };
  return { head: readAt(0, HEADER_BYTES), readAt, close: () => closeSync(fd) };
}

function isDirectory(host: string): boolean {
  try {
    return statSync(host).isDirectory();
  } catch {
    return false;
  }
}

/** Whether the host runs foreign binaries through binfmt_misc (qemu-user): then the machine type says nothing. */
function binfmtMisc(): boolean {
  try {
    return readdirSync("/proc/sys/fs/binfmt_misc").some((n) => n !== "register" && n !== "status");
  } catch {
    return false;
  }
}

/** A mount of the spec as placementFailure reads it: bind mounts by source, others only by where they are. */
export interface PlacedMount {
  destination: string;
  source?: string | undefined;
  bind: boolean;
}

/**
 * Why the runtime would fail to put a bind mount or the working directory where the spec says,
 * judged from the host before it starts, so the user gets one cm: line instead of the runtime's
 * (runc prints its own error on the stderr it shares with the container): a directory bound onto
 * a file, a file onto a directory (runc: "not a directory"), a
 * destination below a file, a working directory that is a file. `mounts` in the spec's order: each
 * destination is resolved as the runtime will see it, through the earlier bind mounts, else in the
 * rootfs with symlinks kept inside it (also under --ephemeral's overlay at /); below an earlier
 * non-bind mount (the runtime's /dev, /proc, a tmpfs, --review's overlay at /project) nothing is
 * known and nothing is said. Missing destinations are fine
 * (the runtime creates them); a source cm cannot stat is left to the runtime. `where` names the
 * place ("bundle NAME"). Undefined when nothing is wrong.
 */
export function placementFailure(rootfs: string, mounts: readonly PlacedMount[], cwd: string, where: string): string | undefined {
  for (const [i, m] of mounts.entries()) {
    if (!m.bind || !m.source) continue;
    const source = kindOf(m.source);
    if (source === undefined || source === "missing" || source === "below-file") continue;
    const target = kindAt(rootfs, m.destination, mounts.slice(0, i));
    if (target === undefined || target === "missing") continue;
    const what = `cannot mount ${m.source} at ${m.destination}`;
    if (target === "below-file") return `${what}: a part of ${m.destination} is a file in ${where}, not a directory`;
    if (source === "dir" && target !== "dir")
      return `${what}: ${m.destination} is a file in ${where}, and a directory can only be mounted on a directory`;
    if (source !== "dir" && target === "dir")
      return `${what}: ${m.destination} is a directory in ${where}, and a file can only be mounted on a file`;
  }
  const wd = kindAt(rootfs, cwd, mounts);
  if (wd === "file" || wd === "below-file")
    return `working directory ${cwd}: ${wd === "file" ? "it is a file" : "a part of it is a file"} in ${where}, not a directory`;
  return undefined;
}

type Kind = "dir" | "file" | "missing" | "below-file";

/** What `containerPath` is once the mounts `before` it are made (undefined: not known from here). */
function kindAt(rootfs: string, containerPath: string, before: readonly PlacedMount[]): Kind | undefined {
  let host: string | undefined;
  try {
    host = throughMounts(rootfs, containerPath, before);
  } catch {
    return undefined; // a symlink loop: the runtime's own error
  }
  return host === undefined ? undefined : kindOf(host);
}

function kindOf(host: string): Kind | undefined {
  try {
    return statSync(host).isDirectory() ? "dir" : "file";
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "missing" : code === "ENOTDIR" ? "below-file" : undefined;
  }
}
