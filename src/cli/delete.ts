import { hostContext } from "../actions/context.ts";
import { deleteBundles } from "../actions/delete.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "delete",
  positionals: [
    { name: "PROJECT", optional: true, complete: "project" },
    { name: "BUNDLE", optional: true, complete: "bundle" },
  ],
  description: `Stop the containers of a project (or of one bundle) and remove its bundles. Without arguments:
every bundle of the project in the current directory. The project directory itself is never
touched.`,
  options: {
    time: {
      type: "string",
      value: "SECONDS",
      help: "grace period between SIGTERM and SIGKILL for running containers (default 10)",
    },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 2 || p.rest.length > 0) throw tooMany("delete", [...p.positionals.slice(2), ...p.rest]);
  const time = p.values.time ?? "10";
  if (!/^\d+$/.test(time) || Number(time) > 3600) {
    throw new CmError("usage", `delete: invalid --time ${JSON.stringify(time)}`, { hint: "give whole seconds from 0 to 3600" });
  }
  const kept: string[] = [];
  const notes: string[] = [];
  const removed = await deleteBundles(
    hostContext(),
    { project: p.positionals[0], bundle: p.positionals[1], grace: Number(time) },
    kept,
    notes,
  );
  if (removed.length > 0) process.stderr.write(`cm: deleted ${removed.join(", ")}\n`);
  for (const k of kept) process.stderr.write(`cm: kept ${k}: not a bundle (remove it yourself if you do not need it)\n`);
  for (const n of notes) process.stderr.write(`cm: ${n}\n`);
  return 0;
}
