/**
 * The container's init (PID 1): Debian's `tini-static`, bind-mounted read-only into the container
 * as Docker mounts its `docker-init`, running the command as its child. Pure: the host path comes
 * in as an argument (host/tools.ts `findInit`).
 *
 * Why an init: the kernel drops any signal a PID 1 has no handler for, so without one
 * `cm run -- sleep 60` ignores Ctrl-C and SIGTERM, and orphaned grandchildren stay zombies.
 * tini forwards every signal to the command, reaps orphans and exits with the command's status
 * (128+N when it died of signal N). Its flags:
 *   -g  signals go to the command's whole process group, as a terminal's Ctrl-C does on the host
 *       (`bash -c 'sleep 60; echo'` ends at once instead of after the sleep);
 *   no -s: as PID 1 tini already reaps every orphan (a subreaper is for when it is not PID 1);
 *   no -p: its parent is the runtime, which may legitimately end a thread first.
 */
import { CmError } from "../../errors.ts";
import type { Transform } from "../runtime-spec/transforms.ts";
import type { Mount } from "../runtime-spec/types.ts";

/**
 * Where the init appears inside: below the runtime's own /dev tmpfs, so the mount point is made
 * there and nothing is created in the bundle's root filesystem (Docker uses /sbin/docker-init,
 * which the runtime creates as an empty file in the image when it is missing).
 */
export const INIT_PATH = "/dev/init";

/** The arguments before the command: `/dev/init -g --`. */
export const INIT_ARGS = [INIT_PATH, "-g", "--"] as const;

/** The Debian package that ships the init, and its static binary (it works in any root filesystem). */
export const INIT_PACKAGE = "tini";
export const INIT_BINARY = "/usr/bin/tini-static";

/** The read-only bind mount of the host's init (`hostPath`, absolute) at INIT_PATH. */
export function initMount(hostPath: string): Mount {
  return { destination: INIT_PATH, type: "bind", source: hostPath, options: ["bind", "ro", "nosuid", "nodev"] };
}

/** `process.args` run under the init: `INIT_ARGS + args`. Apply after the args are final (with initMount among the mounts). */
export function initArgs(): Transform {
  return (spec) => ({ ...spec, process: { ...spec.process, args: [...INIT_ARGS, ...spec.process.args] } });
}

/** Both: the mount and the args (post_create and tests; a run gets the mount through its plan's mounts). */
export function withInit(hostPath: string): Transform {
  return (spec) => initArgs()({ ...spec, mounts: [...spec.mounts.filter((m) => m.destination !== INIT_PATH), initMount(hostPath)] });
}

/** Refused before anything starts: no tini on the host and no --no-init. */
export function initMissing(): CmError {
  return new CmError("tool-missing", `${INIT_BINARY} not found on this host: cm runs it as the container's init (PID 1)`, {
    hint: `install it: apt-get install ${INIT_PACKAGE}; or run without an init: --no-init (or init = false in cm.toml)`,
  });
}

/** The command a spec runs, without the init in front (for records and messages). */
export function withoutInit(args: readonly string[]): string[] {
  return args[0] === INIT_PATH && args.indexOf("--") >= 0 ? args.slice(args.indexOf("--") + 1) : [...args];
}
