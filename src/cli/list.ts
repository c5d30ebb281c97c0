import { hostContext } from "../actions/context.ts";
import { leftoverWarnings } from "../actions/leftovers.ts";
import { formatList, listEntries } from "../actions/list.ts";
import { defineCommand } from "../core/command.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "list",
  positionals: [],
  description: `List projects and bundles: project, bundle, size (measured when created), creation time, source
and project directory.`,
  options: {
    json: {
      type: "boolean",
      help: "print a JSON array of {project, bundle, path, source, created, sizeBytes, rootless, dir}",
    },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("list", [...p.positionals, ...p.rest]);
  const ctx = hostContext();
  const entries = listEntries(ctx);
  for (const w of leftoverWarnings(ctx)) process.stderr.write(`cm: warning: ${w}\n`);
  process.stdout.write(p.values.json ? `${JSON.stringify(entries, null, 2)}\n` : `${formatList(entries)}\n`);
  return 0;
}
