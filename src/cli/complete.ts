/**
 * cm __complete bundles [PROJECT] | projects | containers: names for the completion scripts, one a
 * line. Hidden, quick (reads directory listings and small files only), and silent: a completion
 * helper never prints an error, it just offers nothing.
 */
import { completionNames } from "../actions/complete.ts";
import { hostContext } from "../actions/context.ts";
import { defineCommand } from "../core/command.ts";

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
    const names = completionNames(hostContext(), argv[0], argv[1]);
    if (names.length > 0) process.stdout.write(`${names.join("\n")}\n`);
  } catch {
    // nothing to offer
  }
  return 0;
}
