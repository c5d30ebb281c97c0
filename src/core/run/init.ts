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
import type { Transform } from "../spec/transforms.ts";

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

/**
 * Runs `process.args` under the init: the host's `tini-static` at `hostPath` (absolute) is
 * bind-mounted read-only at INIT_PATH, and the args become `INIT_ARGS + args`. Apply after the
 * args are final (the command check looks at the command, not at the init).
 */
export function withInit(hostPath: string): Transform {
  return (spec) => ({
    ...spec,
    process: { ...spec.process, args: [...INIT_ARGS, ...spec.process.args] },
    mounts: [
      ...spec.mounts.filter((m) => m.destination !== INIT_PATH),
      { destination: INIT_PATH, type: "bind", source: hostPath, options: ["bind", "ro", "nosuid", "nodev"] },
    ],
  });
}

/** The command a spec runs, without the init in front (for records and messages). */
export function withoutInit(args: readonly string[]): string[] {
  return args[0] === INIT_PATH && args.indexOf("--") >= 0 ? args.slice(args.indexOf("--") + 1) : [...args];
}
