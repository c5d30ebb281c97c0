import { hostContext } from "../actions/context.ts";
import { logs } from "../actions/logs.ts";
import { CmError } from "../errors.ts";
import { parse, tooMany } from "./args.ts";

export const usage = `Usage: cm logs [-f] CONTAINER

Print the output (stdout and stderr) of a container started with cm run --detach, also after it
ended, until cm gc removes it. CONTAINER is an ID, a unique ID prefix, or a bundle of the current
project with exactly one such container.

Options:
  -f, --follow   keep printing new output until the container ends
  -h, --help     show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("logs", argv, { follow: { type: "boolean", short: "f" } });
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("logs", [...p.positionals.slice(1), ...p.rest]);
  const container = p.positionals[0];
  if (container === undefined) throw new CmError("usage", "logs: no container given", { hint: "name the container: cm logs CONTAINER" });
  return logs(hostContext(), container, p.values.follow === true, (chunk) => process.stdout.write(chunk));
}
