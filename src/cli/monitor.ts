/** Internal: the monitor of a detached run (see actions/detach.ts). Not listed in cm --help. */
import { dirname } from "node:path";
import { hostContext } from "../actions/context.ts";
import { monitor } from "../actions/detach.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";

export const command = defineCommand({
  name: "__monitor",
  positionals: [{ name: "RUNDIR" }],
  description: "Internal: started by cm run --detach.",
  options: {},
});

export async function main(argv: string[]): Promise<number> {
  const dir = argv[0];
  const { layout } = hostContext();
  // Only a run directory in this user's own state directory: the record there names the runtime to start.
  if (argv.length !== 1 || !dir || dirname(dir) !== layout.runs) {
    throw new CmError("usage", "__monitor: expects one run directory of cm's state directory (started by cm run --detach)");
  }
  return monitor(dir, layout);
}
