/** Reporting what interrupted creates and deletes left behind (see store/leftovers.ts). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ANNOTATION } from "../core/runtime-spec/index.ts";
import { leftovers } from "../store/leftovers.ts";
import type { Context } from "./context.ts";

/** The project name recorded in the leftover's config.json, else its storage key. */
function projectNameOf(dir: string, key: string): string {
  try {
    const spec = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { annotations?: Record<string, string> };
    return spec.annotations?.[ANNOTATION.projectName] ?? key;
  } catch {
    return key;
  }
}

export function leftoverWarnings(ctx: Context): string[] {
  return leftovers(ctx.layout.data)
    .filter((l) => !l.live)
    .map((l) => {
      const name = projectNameOf(l.dir, l.projectKey);
      const arg = /^[\w.+-]+$/.test(name) ? name : JSON.stringify(name);
      return l.kind === "deleting"
        ? `bundle ${l.bundle} of project ${name} was not completely deleted: ${l.dir} remains (retry: cm delete ${arg} ${l.bundle})`
        : `an interrupted create of bundle ${l.bundle} of project ${name} left ${l.dir} (the next cm create or cm delete of it removes it)`;
    });
}
