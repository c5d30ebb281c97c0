/**
 * The sandbox options of a run, planned: `--allow-host` (egress only through cm's proxy),
 * `--review` (/project's changes held back in cm's data directory) and `--ephemeral` (the root
 * filesystem's changes discarded at exit). Pure: options + facts -> what the spec gets (RunSpecInput
 * fields), what the run record says (so that whoever executes the run, `cm run` or the monitor of
 * a detached run, starts the same helpers: actions/runsteps.ts), or a CmError for what cannot be
 * done. Each combines freely with the others.
 */
import { join } from "node:path";
import { CmError } from "../../errors.ts";
import { escapeControls } from "../names.ts";
import { isWithin } from "../path.ts";
import type { RunSpecInput } from "../runtime-spec/index.ts";
import { parseAllowHost, proxyEnv } from "./allowhost.ts";
import type { RunOptions } from "./options.ts";
import { proxyHook } from "./proxyhook.ts";
import type { RuntimeKind } from "./runtime.ts";
import type { VolumeSpec } from "./volume.ts";

/** What run.json records of the sandbox options (store/runs.ts RunRecord). */
export interface SandboxRecord {
  /** --allow-host: the patterns as given, whether the run is rootless, -q and --verbose */
  egress?: { allow: string[]; rootless: boolean; quiet?: boolean | undefined; verbose?: boolean | undefined } | undefined;
  /** --review: /project is an overlay; its layer is <data>/.reviews/<id> (reviewPaths, review/store.ts) */
  review?: true | undefined;
  /** --ephemeral: / is an overlay; its layer is <data>/.ephemeral/<id> (ephemeralPaths) */
  ephemeral?: true | undefined;
}

export interface SandboxPlan {
  spec: Pick<RunSpecInput, "egress" | "review" | "ephemeral">;
  record: SandboxRecord;
  /** --allow-host forces a private network */
  network?: "none" | undefined;
}

export interface SandboxFacts {
  rootless: boolean;
  /** the run directory (not created yet) and its ID */
  dir: string;
  id: string;
  /** where overlay layers go (core/layout.ts) */
  layers: OverlayRoots;
  /** cm's own Node binary (runs the proxy's hook) */
  node: string;
  /** the project's and the rootfs's real paths */
  projectPath: string;
  rootfs: string;
  volumes: readonly VolumeSpec[];
}

/** Characters overlayfs's mount options cannot carry in a path (separators and escapes). */
export const OVERLAY_UNSAFE = /[,:\\\n]/;

/**
 * The roots of the overlay layers (Layout's `reviews` and `ephemeral`: `<data>/.reviews`,
 * `<data>/.ephemeral`): on disk, where a rootless overlay's upper has the user.* xattrs it needs.
 */
export interface OverlayRoots {
  reviews: string;
  ephemeral: string;
}

/** An overlay layer: its directory, and the upper and work directory in it (one file system). */
export interface LayerPaths {
  dir: string;
  upper: string;
  work: string;
}

/** The layer in directory `dir`. */
export function layerPaths(dir: string): LayerPaths {
  return { dir, upper: join(dir, "upper"), work: join(dir, "work") };
}

/** A review's layer, `<reviews>/<id>` (review/store.ts adds its review.json). */
export function reviewPaths(reviews: string, id: string): LayerPaths {
  return layerPaths(join(reviews, id));
}

/**
 * An ephemeral layer holds, beside upper/ and work/, `owner.json` (EphemeralOwner): cm gc removes
 * the layer once its run directory is gone and the process that made it is dead. It is made aside
 * (host/fs.ts layerMaking) and renamed into place.
 */
export const EPHEMERAL_OWNER_FILE = "owner.json";

/** Who an ephemeral layer belongs to: its run directory, and the cm (or monitor) that made it. */
export interface EphemeralOwner {
  runDir: string;
  pid: number;
  /** /proc/PID/stat start time, to tell a reused pid */
  start: number | undefined;
}

/** The layer of an ephemeral run's root filesystem, `<ephemeral>/<id>`: removed when the run ends. */
export function ephemeralPaths(ephemeral: string, id: string): LayerPaths {
  return layerPaths(join(ephemeral, id));
}

/** Checks the sandbox options against the run and the runtime, and plans them. */
export function planSandbox(opts: RunOptions, facts: SandboxFacts, kind: RuntimeKind): SandboxPlan {
  const plan: SandboxPlan = { spec: {}, record: {} };
  if (opts.allowHosts?.length) {
    const where = opts.allowHostsWhere ?? "--allow-host";
    const allow = opts.allowHosts.map((p) => parseAllowHost(p, where));
    if (opts.network === "host") {
      throw new CmError("usage", `${where} and --network host cannot be combined: the host's network has no way to filter egress`, {
        hint: `leave out --network host (${where} gives a private network whose only way out is cm's proxy)`,
      });
    }
    if (kind === "runsc") {
      throw new CmError("usage", `${where} does not work with runsc: gVisor keeps its own network stack`, {
        hint: "use runc or crun with --allow-host",
      });
    }
    plan.network = "none";
    plan.spec.egress = { hook: proxyHook(facts.dir, facts.node), env: proxyEnv() };
    plan.record.egress = {
      allow: allow.map((p) => p.text),
      rootless: facts.rootless,
      ...(opts.quiet ? { quiet: true } : {}),
      ...(opts.verbose ? { verbose: true } : {}),
    };
  }
  if (opts.review) {
    if (facts.volumes.some((v) => v.destination === "/project")) {
      throw new CmError("usage", "--review and -v .:/project:ro cannot be combined", {
        hint: "leave one out (--review keeps the project unchanged anyway)",
      });
    }
    // a writable volume of the project (or of a directory in or around it) is a way around the
    // review: its writes would land in the project at once
    const around = facts.volumes.find(
      (v) => !v.readOnly && (isWithin(v.source, facts.projectPath) || isWithin(facts.projectPath, v.source)),
    );
    if (around) {
      throw new CmError(
        "usage",
        `--review and a writable -v of the project (${escapeControls(around.source)}:${around.destination}) cannot be combined: its writes would skip the review`,
        {
          hint: `mount it read-only (${escapeControls(around.source)}:${around.destination}:ro), or leave out --review`,
        },
      );
    }
    if (kind === "runsc") throw overlayRuntime("--review");
    for (const path of [facts.projectPath, facts.layers.reviews]) if (OVERLAY_UNSAFE.test(path)) throw overlayPath("--review", path);
    const p = reviewPaths(facts.layers.reviews, facts.id);
    plan.spec.review = { project: facts.projectPath, upper: p.upper, work: p.work, userxattr: facts.rootless };
    plan.record.review = true;
  }
  if (opts.ephemeral) {
    // runc mounts an overlay at "/" over root.path before its other mounts (measured); another
    // runtime might not, and would write the bundle: refused rather than trusted.
    if (kind !== "runc") throw overlayRuntime("--ephemeral");
    for (const path of [facts.rootfs, facts.layers.ephemeral]) if (OVERLAY_UNSAFE.test(path)) throw overlayPath("--ephemeral", path);
    const p = ephemeralPaths(facts.layers.ephemeral, facts.id);
    plan.spec.ephemeral = { upper: p.upper, work: p.work, userxattr: facts.rootless };
    plan.record.ephemeral = true;
  }
  return plan;
}

function overlayRuntime(flag: string): CmError {
  return new CmError("usage", `${flag} works with runc only (its overlay mount is not supported by this runtime)`, {
    hint: `leave out --runtime, or ${flag}`,
  });
}

function overlayPath(flag: string, path: string): CmError {
  return new CmError("usage", `${flag} cannot use ${escapeControls(path)}: overlayfs paths cannot contain ',', ':', '\\' or a newline`, {
    hint: "move it (the project, the bundle or CM_HOME) to a path without them",
  });
}
