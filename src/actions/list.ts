/** cm list: projects and bundles, with size (as measured at create) and project path. */
import { displayName } from "../core/names.ts";
import { formatBytes } from "../core/size.ts";
import { formatTable } from "../core/table.ts";
import type { CmError } from "../errors.ts";
import { listBundles } from "../store/bundles.ts";
import type { Context } from "./context.ts";

/** The stable fields of `cm list --json` (documented in the README). */
export interface ListEntry {
  project: string;
  bundle: string;
  path: string;
  source: string;
  created: string;
  sizeBytes: number | null;
  rootless: boolean;
  dir: string;
}

export function listEntries(ctx: Context): ListEntry[] {
  const warn = (err: CmError) => process.stderr.write(`cm: warning: skipped a damaged bundle: ${err.message} (${err.hint})\n`);
  return listBundles(ctx.layout.data, undefined, warn).map((b) => ({
    project: b.projectName,
    bundle: b.bundle,
    path: b.projectPath,
    source: b.source,
    created: b.created,
    sizeBytes: b.sizeBytes ?? null,
    rootless: b.rootless,
    dir: b.dir,
  }));
}

export function formatList(entries: ListEntry[]): string {
  const rows = [["PROJECT", "BUNDLE", "SIZE", "CREATED", "SOURCE", "PATH"]];
  for (const e of entries) {
    rows.push([
      displayName(e.project),
      e.bundle,
      e.sizeBytes === null ? "-" : formatBytes(e.sizeBytes),
      e.created.slice(0, 19).replace("T", " "),
      e.source,
      displayName(e.path),
    ]);
  }
  return formatTable(rows);
}
