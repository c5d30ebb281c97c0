import { hostContext } from "../actions/context.ts";
import { gc } from "../actions/gc.ts";
import { defineCommand } from "../core/command.ts";
import { escapeControls } from "../core/names.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "gc",
  positionals: [],
  description: `Remove what killed or crashed runs left behind, and say what was removed: run directories (and
runtime state) of containers that have ended, with the logs of ended detached runs; runtime state
without a run record; interrupted creates and deletes; --ephemeral changes whose run is gone.
Pending reviews stay (cm apply / cm discard). Containers that still run are left alone (stop them
with cm stop). Prints nothing when there was nothing to remove.`,
  options: {},
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("gc", [...p.positionals, ...p.rest]);
  const r = gc(hostContext());
  for (const line of r.removed) process.stdout.write(`removed ${escapeControls(line)}\n`);
  for (const line of r.kept) process.stderr.write(`cm: kept ${line}\n`);
  return 0;
}
