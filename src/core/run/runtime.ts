/**
 * OCI runtimes with runc's command line: which one a `--runtime` value names, the global flags it
 * needs, and whether it can work on this host. Pure: host facts come in as arguments.
 *
 *   runc   the default; nothing extra.
 *   runsc  gVisor: networking is chosen by a global flag (--network=host|none), not by the spec's
 *          network namespace (the spec transform drops it); rootless needs --rootless and
 *          --ignore-cgroups (a rootless run never has limits: they are refused before).
 *          Limits apply to the sandbox as a whole: --memory and --cpus work (as root), --pids-limit
 *          is refused (checkRuntimeLimits).
 *   crun   needs cgroup v2 or a pure v1 layout: on a v1 "hybrid" host (an empty cgroup2 at
 *          /sys/fs/cgroup/unified) it cannot start containers, so cm refuses it up front.
 *          Its cgroupfs driver ignores a limit it has no permission for (rootless): cm gives it
 *          limits only through its systemd driver (core/limits.ts cgroupDriver).
 *   runc, crun with the systemd cgroup driver: `--systemd-cgroup` (both take it).
 *   other  any other runtime is taken to behave like runc.
 */
import { CmError } from "../../errors.ts";
import type { CgroupDriver } from "../limits.ts";
import type { Network } from "./resources.ts";

export type RuntimeKind = "runc" | "runsc" | "crun" | "other";

/** A name is looked up on PATH; anything with a '/' is a path to the binary. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** A `--runtime` value: a name or an absolute path. `label` names it in messages ("value" for cm.toml). */
export function checkRuntimeArg(text: string, label = "--runtime"): string {
  if (text.includes("/")) {
    if (!text.startsWith("/") || text.includes("\0")) {
      throw new CmError("bad-runtime", `invalid ${label} ${JSON.stringify(text)}: a path must be absolute`, {
        hint: "give a name (runc, runsc, crun) or an absolute path to an OCI runtime",
      });
    }
    return text;
  }
  if (!NAME.test(text)) {
    throw new CmError("bad-runtime", `invalid ${label} ${JSON.stringify(text)}`, {
      hint: "give a name (runc, runsc, crun) or an absolute path",
    });
  }
  return text;
}

/** The kind from the binary's file name. */
export function runtimeKind(binary: string): RuntimeKind {
  const base = binary.slice(binary.lastIndexOf("/") + 1);
  return base === "runc" || base === "runsc" || base === "crun" ? base : "other";
}

/** The runtime's own state directory below cm's state directory: runtimes do not share one. */
export function runtimeRootName(binary: string): string {
  const base = binary.slice(binary.lastIndexOf("/") + 1).replace(/[^A-Za-z0-9._+-]/g, "_");
  return base === "runc" ? "runc" : `runtime-${base}`;
}

export interface RuntimeHost {
  rootless: boolean;
  /** cgroup v1 with an (empty) cgroup2 at /sys/fs/cgroup/unified */
  cgroupHybrid: boolean;
  /** core/limits.ts cgroupDriver(); default cgroupfs */
  cgroupDriver?: CgroupDriver | undefined;
  /** the bundle maps the user's subordinate ids (range mode, core/userns.ts) */
  rangeBundle?: boolean;
}

/** Global flags (before the subcommand), as every invocation for this container must repeat them. */
export function runtimeFlags(kind: RuntimeKind, host: RuntimeHost, network: Network): string[] {
  // runc's systemd driver warns for each default device rule whose node is missing ("skipping
  // device /dev/char/10:200": /dev/net/tun without the tun module): those lines go to the runtime's
  // JSON log in the run directory (startup.ts runtimeLogFlags), never to the terminal.
  if (kind !== "runsc") return host.cgroupDriver === "systemd" ? ["--systemd-cgroup"] : [];
  const flags = [`--network=${network}`];
  if (host.rootless) flags.push("--rootless", "--ignore-cgroups");
  return flags;
}

/**
 * Whether `exec` must start in a scope of the user's own systemd. Measured with crun 1.8.1 in the
 * test guest: rootless, with the systemd driver, `crun exec` from a login session fails with
 * "writing file .../cm-<id>.scope/container/cgroup.procs: Permission denied": moving a process
 * between cgroups needs write access to their common ancestor, and the session's scope and the
 * container's scope meet only at user-UID.slice, which is root's. runc 1.1 asks systemd to move
 * it instead. Started inside a transient scope of the user's manager (`systemd-run --user
 * --scope`, what Podman does for itself), the common ancestor is the user's, and crun can.
 */
export function execInUserScope(kind: RuntimeKind, rootless: boolean, flags: readonly string[]): boolean {
  return kind === "crun" && rootless && flags.includes("--systemd-cgroup");
}

/** The argv prefix that runs a command in a new transient scope of the user's systemd (collected when it ends). */
export const USER_SCOPE_ARGS = ["--user", "--scope", "--quiet", "--collect", "--"] as const;

/** Refuses a runtime that cannot work here, before anything is started. */
export function checkRuntimeUsable(kind: RuntimeKind, binary: string, host: RuntimeHost): void {
  if (kind === "crun" && host.cgroupHybrid) {
    throw new CmError(
      "runtime-unsupported",
      `${binary} cannot run containers on this host: crun does not support the cgroup v1 hybrid layout`,
      {
        hint: "use --runtime runc (the default) or --runtime runsc",
      },
    );
  }
  // Measured (runsc from bookworm): rootless gVisor maps only the user's own id; files of the
  // subordinate ids fail to stat inside ("Invalid argument") and cannot be written.
  if (kind === "runsc" && host.rootless && host.rangeBundle) {
    throw new CmError(
      "runtime-unsupported",
      "runsc cannot run this bundle rootless: its files belong to your subordinate ids, and rootless gVisor maps only your own id",
      {
        hint: "use --runtime runc, or make a bundle for runsc with cm create BUNDLE --userns single",
      },
    );
  }
}

/**
 * Limits under gVisor apply to the whole sandbox on the host (its kernel's threads included):
 * memory and CPU keep their meaning, a process count does not (gVisor's own threads count, so a
 * small --pids-limit kills the sandbox, and a large one limits nothing inside). Refused.
 */
export function checkRuntimeLimits(kind: RuntimeKind, limits: { pids: boolean; any?: boolean; rootless?: boolean }): void {
  // Rootless gVisor runs with --ignore-cgroups: a limit would be dropped silently.
  if (kind === "runsc" && limits.rootless && limits.any) {
    throw new CmError("limit-unsupported", "limits cannot be enforced with runsc rootless: gVisor then runs without cgroups", {
      hint: "leave out --memory, --cpus and --pids-limit, run cm as root, or use --runtime runc",
    });
  }
  if (kind === "runsc" && limits.pids) {
    throw new CmError(
      "limit-unsupported",
      "--pids-limit cannot be enforced with runsc: gVisor's own threads count against it on the host",
      {
        hint: "leave out --pids-limit, or use --runtime runc",
      },
    );
  }
}
