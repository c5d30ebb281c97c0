import { hostContext } from "../actions/context.ts";
import { leftoverWarnings } from "../actions/leftovers.ts";
import { formatList, listEntries } from "../actions/list.ts";
import { parse, tooMany } from "./args.ts";

export const usage = `Usage: cm list [--json]

List projects and bundles: project, bundle, size (measured when created), creation time, source
and project directory.

Options:
  --json               print a JSON array of {project, bundle, path, source, created, sizeBytes,
                       rootless, dir}
  -h, --help           show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("list", argv, { json: { type: "boolean" } });
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("list", [...p.positionals, ...p.rest]);
  const ctx = hostContext();
  const entries = listEntries(ctx);
  for (const w of leftoverWarnings(ctx)) process.stderr.write(`cm: warning: ${w}\n`);
  process.stdout.write(p.values.json ? `${JSON.stringify(entries, null, 2)}\n` : `${formatList(entries)}\n`);
  return 0;
}
