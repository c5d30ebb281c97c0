/** Internal: the monitor of a detached run (see actions/detach.ts). Not listed in cm --help. */
import { isAbsolute } from "node:path";
import { monitor } from "../actions/detach.ts";
import { CmError } from "../errors.ts";

export const usage = "Usage: cm __monitor RUNDIR (internal: started by cm run --detach)\n";

export async function main(argv: string[]): Promise<number> {
  const dir = argv[0];
  if (argv.length !== 1 || !dir || !isAbsolute(dir)) throw new CmError("usage", "__monitor: expects one absolute run directory");
  return monitor(dir);
}
