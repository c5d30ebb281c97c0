/**
 * Run defaults taken from an image's config (Env, User, Entrypoint + Cmd, WorkingDir), as a
 * transform of the bundle's spec. Pure.
 *   - Env: the image's variables override cm's base ones of the same name (PATH usually).
 *   - Entrypoint and Cmd: recorded apart in the annotations, because `cm run -- ARGS` replaces
 *     only Cmd (core/run/command.ts); Entrypoint followed by Cmd is the bundle's process.args.
 *   - User: applied as root; rootless, only container root is mapped, so the container runs as
 *     root (the image's user is recorded in the annotations).
 *   - WorkingDir: recorded; the working directory stays /project.
 */
import { mergeEnv } from "../run/env.ts";
import type { Transform } from "./transforms.ts";
import type { OciSpec } from "./types.ts";

export interface ImageDefaults {
  env: string[];
  /** the image's Entrypoint; empty when it has none */
  entrypoint: string[];
  /** the image's Cmd; empty when it has none */
  cmd: string[];
  user?: { text: string; uid: number; gid: number } | undefined;
  workingDir?: string | undefined;
  /** the manifest digest the bundle was made from */
  digest?: string | undefined;
}

export const IMAGE_ANNOTATION = {
  entrypoint: "dev.cm.image.entrypoint",
  cmd: "dev.cm.image.cmd",
  /** bundles made before Entrypoint and Cmd were recorded apart: both joined, read as a Cmd */
  command: "dev.cm.image.command",
  user: "dev.cm.image.user",
  workingDir: "dev.cm.image.workdir",
  digest: "dev.cm.image.digest",
} as const;

export function imageDefaults(d: ImageDefaults, rootless: boolean): Transform {
  return (spec) => {
    const annotations: Record<string, string> = { ...spec.annotations };
    if (d.entrypoint.length) annotations[IMAGE_ANNOTATION.entrypoint] = JSON.stringify(d.entrypoint);
    if (d.cmd.length) annotations[IMAGE_ANNOTATION.cmd] = JSON.stringify(d.cmd);
    const command = [...d.entrypoint, ...d.cmd];
    if (d.user) annotations[IMAGE_ANNOTATION.user] = d.user.text;
    if (d.workingDir) annotations[IMAGE_ANNOTATION.workingDir] = d.workingDir;
    if (d.digest) annotations[IMAGE_ANNOTATION.digest] = d.digest;
    const user = d.user && !rootless ? { uid: d.user.uid, gid: d.user.gid } : spec.process.user;
    return {
      ...spec,
      process: {
        ...spec.process,
        env: mergeEnv(spec.process.env, d.env),
        args: command.length ? command : spec.process.args,
        user,
      },
      annotations,
    };
  };
}

export interface ImageProcess {
  entrypoint: string[];
  cmd: string[];
}

function stringArray(text: string | undefined): string[] | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string") ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The image's Entrypoint and Cmd recorded in a bundle's spec, if it has either. A bundle made
 * before they were recorded apart has only `dev.cm.image.command`: that is taken as a Cmd with no
 * entrypoint, so it runs as it always did.
 */
export function imageProcess(annotations: Record<string, string>): ImageProcess | undefined {
  const entrypoint = stringArray(annotations[IMAGE_ANNOTATION.entrypoint]);
  const cmd = stringArray(annotations[IMAGE_ANNOTATION.cmd]);
  if (entrypoint || cmd) return { entrypoint: entrypoint ?? [], cmd: cmd ?? [] };
  const legacy = stringArray(annotations[IMAGE_ANNOTATION.command]);
  return legacy ? { entrypoint: [], cmd: legacy } : undefined;
}

/**
 * The run defaults an image gave a bundle, read back from the bundle's spec, so that a bundle copied
 * from it (`--from bundle:X`) runs the same way. Undefined for a bundle not made from an image. The
 * environment is the bundle's whole one (cm's base variables with the image's over them).
 */
export function recordedImageDefaults(spec: OciSpec): ImageDefaults | undefined {
  const a = spec.annotations ?? {};
  const p = imageProcess(a);
  const user = a[IMAGE_ANNOTATION.user];
  const digest = a[IMAGE_ANNOTATION.digest];
  const workingDir = a[IMAGE_ANNOTATION.workingDir];
  if (!p && user === undefined && digest === undefined && workingDir === undefined) return undefined;
  return {
    env: [...spec.process.env],
    entrypoint: p?.entrypoint ?? [],
    cmd: p?.cmd ?? [],
    user: user === undefined ? undefined : { text: user, uid: spec.process.user.uid, gid: spec.process.user.gid },
    workingDir,
    digest,
  };
}
