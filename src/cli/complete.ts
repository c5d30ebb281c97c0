/**
 * cm __complete bundles [PROJECT] | projects | containers: names for the completion scripts, one a
 * line. Hidden, quick (reads directory listings and small files only), and silent: a completion
 * helper never prints an error, it just offers nothing.
 */
import { realpathSync } from "node:fs";
import { basename } from "node:path";
import { hostContext } from "../actions/context.ts";
import { defineCommand } from "../core/command.ts";
import { projectKey } from "../core/names.ts";
import { bundleNames, listBundles } from "../store/bundles.ts";
import { listRuns } from "../store/runs.ts";

export const command = defineCommand({
  name: "__complete",
  positionals: [],
  synopsis: ["__complete bundles [PROJECT] | projects | containers"],
  description: `Print bundle names (of PROJECT, default the current directory's project), project names or the IDs
of cm's containers, one a line: used by the scripts of cm completion.`,
  options: {},
});

export async function main(argv: string[]): Promise<number> {
  try {
    const ctx = hostContext();
    const [kind, arg] = argv;
    let names: string[] = [];
    if (kind === "bundles") {
      const name = arg ?? basename(realpathSync(ctx.cwd));
      names = bundleNames(ctx.layout.data, projectKey(name));
    } else if (kind === "projects") {
      names = [...new Set(listBundles(ctx.layout.data).map((b) => b.projectName))];
    } else if (kind === "containers") {
      names = listRuns(ctx.layout.runs).map((r) => r.id);
    }
    if (names.length > 0) process.stdout.write(`${names.join("\n")}\n`);
  } catch {
    // nothing to offer
  }
  return 0;
}
