import { hostContext } from "../actions/context.ts";
import { deleteBundles } from "../actions/delete.ts";
import { CmError } from "../errors.ts";
import { parse, str, tooMany } from "./args.ts";

export const usage = `Usage: cm delete [PROJECT [BUNDLE]] [OPTIONS]

Stop the containers of a project (or of one bundle) and remove its bundles. Without arguments:
every bundle of the project in the current directory. The project directory itself is never
touched.

Options:
  --time SECONDS       grace period between SIGTERM and SIGKILL for running containers (default 10)
  -h, --help           show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("delete", argv, { time: { type: "string" } });
  if (p.positionals.length > 2 || p.rest.length > 0) throw tooMany("delete", [...p.positionals.slice(2), ...p.rest]);
  const time = str(p.values.time) ?? "10";
  if (!/^\d+$/.test(time) || Number(time) > 3600) {
    throw new CmError("usage", `delete: invalid --time ${JSON.stringify(time)}`, { hint: "give whole seconds from 0 to 3600" });
  }
  const kept: string[] = [];
  const removed = await deleteBundles(hostContext(), { project: p.positionals[0], bundle: p.positionals[1], grace: Number(time) }, kept);
  if (removed.length > 0) process.stderr.write(`cm: deleted ${removed.join(", ")}\n`);
  for (const k of kept) process.stderr.write(`cm: kept ${k}: not a bundle (remove it yourself if you do not need it)\n`);
  return 0;
}
