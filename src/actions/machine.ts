/**
 * What makes a run behave like a Linux machine (issue 13), the parts that touch the host: the facts
 * a run is planned from (is tini installed, the user's rlimits, the bundle's own /etc/hosts), the
 * start check after the spec is built (126/127 before anything starts), the runtime's errors read
 * from its JSON log instead of the terminal, and the OOM kill read from the cgroup before the
 * runtime removes it (a RunStep of actions/runexec.ts). The decisions are pure: core/run/init.ts,
 * hosts.ts, ulimit.ts, startup.ts, oom.ts and plan.ts.
 */
import { accessSync, closeSync, constants, fstatSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { systemdScopeParent } from "../core/limits.ts";
import { MAX_BUNDLE_HOSTS } from "../core/run/hosts.ts";
import { INIT_ARGS, INIT_BINARY } from "../core/run/init.ts";
import { oomFromSlice, oomMessage } from "../core/run/oom.ts";
import type { RuntimeKind } from "../core/run/runtime.ts";
import {
  RUNTIME_LOG,
  runtimeCause,
  runtimeLogMessages,
  type StartFailure,
  startFailureFromRuntime,
  transientRuntimeFailure,
} from "../core/run/startup.ts";
import { stackSoft, type UlimitFacts } from "../core/run/ulimit.ts";
import type { OciSpec } from "../core/runtime-spec/types.ts";
import { formatBytes } from "../core/size.ts";
import { CmError } from "../errors.ts";
import { readOomKill, readOomKillCount, runcCgroupPaths } from "../host/oom.ts";
import { readUlimitFacts } from "../host/rlimits.ts";
import { placementFailure, startFailure } from "../rootfs/command-lookup.ts";
import type { RunStep } from "./runexec.ts";

/** The host's init when it is installed (its packaged path only: it is mounted into containers). */
export function findInit(): string | undefined {
  try {
    accessSync(INIT_BINARY, constants.X_OK);
    return INIT_BINARY;
  } catch {
    return undefined;
  }
}

/** The machine facts of core/run/plan.ts RunFacts: ~0.2 ms of /proc and file reads. */
export function readMachineFacts(
  rootless: boolean,
  rootfs: string,
): { init: string | undefined; ulimits: UlimitFacts; bundleHosts: string } {
  return { init: findInit(), ulimits: readUlimitFacts(!rootless), bundleHosts: readBundleHosts(rootfs) };
}

/**
 * Checks that the command can start (126/127 with the cause, before anything starts): the first
 * word of `args` as the container will execute it, argv (the init's words included) and the
 * environment against the kernel's limits with the spec's stack limit. Throws the CmError.
 */
export function checkStart(
  rootfs: string,
  spec: Pick<OciSpec, "process">,
  args: readonly string[],
  lookup: { cwd: string; path: string; mounts: { destination: string; source: string }[] },
  where: string,
  underInit: boolean,
  hint?: string,
): void {
  const failure = startFailure(rootfs, args[0] as string, {
    ...lookup,
    args: underInit ? [...INIT_ARGS, ...args] : args,
    env: spec.process.env,
    stackSoft: stackSoft(spec.process.rlimits),
    arch: process.arch,
    where,
  });
  if (failure) throw startError(failure, hint);
}

/**
 * Checks that the runtime can put every bind mount and the working directory of `spec` where it
 * says (rootfs/command-lookup.ts placementFailure): 125 with one line before anything starts,
 * instead of the runtime failing with its own error line. `where` is "bundle NAME".
 */
export function checkPlacement(rootfs: string, spec: Pick<OciSpec, "mounts" | "process">, where: string): void {
  const mounts = spec.mounts.map((m) => ({
    destination: m.destination,
    source: m.source,
    bind: m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind"),
  }));
  const failure = placementFailure(rootfs, mounts, spec.process.cwd, where);
  if (failure) throw new CmError(failure.startsWith("working") ? "bad-workdir" : "bad-volume", failure, { hint: PLACEMENT_HINT });
}

const PLACEMENT_HINT = "choose another path inside the container (-v SRC:DST, -w DIR, or the volumes and workdir of cm.toml)";

function startError(f: StartFailure, hint?: string): CmError {
  return new CmError(f.status === 127 ? "command-not-found" : "command-not-executable", f.reason, {
    exitCode: f.status,
    ...(hint ? { hint } : {}),
  });
}

/** The runtime log's size now: a later runtimeFailure reads only what was added after it. */
export function runtimeLogSize(dir: string): number {
  try {
    return statSync(join(dir, RUNTIME_LOG)).size;
  } catch {
    return 0;
  }
}

/**
 * After the runtime failed: its error, from its JSON log in `dir` (from byte `offset`), as a
 * CmError: 126/127 for an exec failure, else 125 "`what` did not start" (cm exec: "the process"). Undefined when the
 * log says nothing (runsc, or a failure that was not the runtime's).
 */
export function runtimeFailure(dir: string, runtimeName: string, offset = 0, what = "the container"): CmError | undefined {
  const messages = runtimeLog(dir, offset);
  if (messages.length === 0) return undefined;
  // cm's own mount check (core/runtime-spec/verify.ts) failed in the runtime's hook: its line, not runc's
  for (const m of messages) {
    const hook = /stderr: cm: ([^\n\\]* is not what cm checked[^\n\\]*)/.exec(m)?.[1];
    if (hook) {
      return new CmError("mount-check", `the container did not start: ${hook}`, {
        hint: "nothing ran; if this repeats, something (a container of this project?) is replacing that path",
      });
    }
  }
  const start = startFailureFromRuntime(messages);
  if (start) return startError(start);
  return new CmError("start-failed", `${what} did not start: ${runtimeName}: ${runtimeCause(messages) ?? ""}`, {
    hint: "check the options (-w, -v, --runtime) and the bundle",
  });
}

/**
 * After the runtime failed before the container's process existed: the cause when it is one that
 * passes (core/run/startup.ts transientRuntimeFailure), from its JSON log in `dir` after byte `offset`.
 */
export function transientFailure(dir: string, offset = 0): string | undefined {
  return transientRuntimeFailure(runtimeLog(dir, offset));
}

/** The error messages of the runtime's JSON log in `dir` from byte `offset` (none when there is no log). */
function runtimeLog(dir: string, offset: number): string[] {
  try {
    return runtimeLogMessages(readFileSync(join(dir, RUNTIME_LOG)).subarray(offset).toString("utf8"));
  } catch {
    return [];
  }
}

/**
 * Whether a run keeps the runtime's state after its exit (`run --keep`) so that its memory cgroup
 * can be read: runc with a memory limit (without one there is no limit to name, and keeping costs
 * one more `runc delete`).
 */
export function keepForOom(spec: Pick<OciSpec, "linux">, kind: RuntimeKind): boolean {
  return kind === "runc" && spec.linux.resources?.memory?.limit !== undefined;
}

/**
 * The step that names an OOM kill: after the exit, before the runtime's state (and the cgroup) is
 * removed, reads the cgroup's OOM kill count; `report` gets `killed: out of memory (limit 32 MiB)`.
 * `oomKilled` is set when it did. With the systemd cgroup driver the container's scope is gone by
 * then: `slice` (core/limits.ts systemdScopeParent) is read before the start and after the exit
 * instead (core/run/oom.ts oomFromSlice).
 */
export function oomStep(
  report: (line: string) => void,
  slice?: { dir: string; limitBytes: number | undefined },
): RunStep & { oomKilled: boolean } {
  let before: number | undefined;
  const step = {
    oomKilled: false,
    beforeStart() {
      if (slice) before = readOomKillCount(slice.dir);
      return undefined;
    },
    afterExit(run: Parameters<NonNullable<RunStep["afterExit"]>>[0], result: Parameters<NonNullable<RunStep["afterExit"]>>[1]) {
      const oom =
        readOomKill(runcCgroupPaths(run.runtime.root, run.id)) ??
        (slice ? oomFromSlice(before, readOomKillCount(slice.dir), result.status, slice.limitBytes) : undefined);
      if (oom) {
        step.oomKilled = true;
        report(oomMessage(oom, formatBytes));
      }
      return result;
    },
  };
  return step;
}

/** oomStep's `slice` for a run whose spec puts it in a systemd scope (undefined otherwise). */
export function oomSlice(spec: Pick<OciSpec, "linux">): { dir: string; limitBytes: number | undefined } | undefined {
  const dir = systemdScopeParent(spec.linux.cgroupsPath, process.getuid?.() ?? 0);
  return dir ? { dir, limitBytes: spec.linux.resources?.memory?.limit } : undefined;
}

/**
 * The bundle's own /etc/hosts (at most MAX_BUNDLE_HOSTS bytes), read without following a symlink
 * out of the root filesystem: /etc is opened with O_NOFOLLOW|O_DIRECTORY and hosts through that
 * descriptor with O_NOFOLLOW (a container may have replaced either). "" when there is none.
 */
export function readBundleHosts(rootfs: string): string {
  let dirFd: number | undefined;
  let fd: number | undefined;
  try {
    dirFd = openSync(join(rootfs, "etc"), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    fd = openSync(`/proc/self/fd/${dirFd}/hosts`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
    if (!fstatSync(fd).isFile()) return "";
    const buf = Buffer.alloc(MAX_BUNDLE_HOSTS);
    const n = readSync(fd, buf, 0, buf.length, 0);
    return buf.toString("utf8", 0, n);
  } catch {
    return "";
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (dirFd !== undefined) closeSync(dirFd);
  }
}
