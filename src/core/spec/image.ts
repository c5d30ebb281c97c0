/**
 * Run defaults taken from an image's config (Env, User, Entrypoint + Cmd, WorkingDir), as a
 * transform of the bundle's spec. Pure.
 *   - Env: the image's variables override cm's base ones of the same name (PATH usually).
 *   - Entrypoint + Cmd: the bundle's process.args, used by `cm run` when it is given no command.
 *   - User: applied as root; rootless, only container root is mapped, so the container runs as
 *     root (the image's user is recorded in the annotations).
 *   - WorkingDir: recorded; the working directory stays /project.
 */
import type { Transform } from "./transforms.ts";

export interface ImageDefaults {
  env: string[];
  /** Entrypoint followed by Cmd; empty when the image names no command */
  command: string[];
  user?: { text: string; uid: number; gid: number } | undefined;
  workingDir?: string | undefined;
  /** the manifest digest the bundle was made from */
  digest?: string | undefined;
}

export const IMAGE_ANNOTATION = {
  command: "dev.cm.image.command",
  user: "dev.cm.image.user",
  workingDir: "dev.cm.image.workdir",
  digest: "dev.cm.image.digest",
} as const;

function envName(e: string): string {
  const eq = e.indexOf("=");
  return eq < 0 ? e : e.slice(0, eq);
}

export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...overrides]) if (envName(e) !== "" && e.includes("=")) out.set(envName(e), e);
  return [...out.values()];
}

export function imageDefaults(d: ImageDefaults, rootless: boolean): Transform {
  return (spec) => {
    const annotations: Record<string, string> = { ...spec.annotations };
    if (d.command.length) annotations[IMAGE_ANNOTATION.command] = JSON.stringify(d.command);
    if (d.user) annotations[IMAGE_ANNOTATION.user] = d.user.text;
    if (d.workingDir) annotations[IMAGE_ANNOTATION.workingDir] = d.workingDir;
    if (d.digest) annotations[IMAGE_ANNOTATION.digest] = d.digest;
    const user = d.user && !rootless ? { uid: d.user.uid, gid: d.user.gid } : spec.process.user;
    return {
      ...spec,
      process: {
        ...spec.process,
        env: mergeEnv(spec.process.env, d.env),
        args: d.command.length ? [...d.command] : spec.process.args,
        user,
      },
      annotations,
    };
  };
}

/** The image's default command recorded in a bundle's spec, if any. */
export function imageCommand(annotations: Record<string, string>): string[] | undefined {
  const text = annotations[IMAGE_ANNOTATION.command];
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === "string") ? (v as string[]) : undefined;
  } catch {
    return undefined;
  }
}
