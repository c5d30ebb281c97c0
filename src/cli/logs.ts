import { hostContext } from "../actions/context.ts";
import { logs } from "../actions/logs.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "logs",
  positionals: [{ name: "CONTAINER", complete: "container" }],
  description: `Print the output (stdout and stderr) of a container started with cm run --detach, also after it
ended, until cm gc removes it. CONTAINER is an ID, a unique ID prefix, or a bundle of the current
project with exactly one such container.`,
  options: {
    follow: { type: "boolean", short: "f", help: "keep printing new output until the container ends" },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("logs", [...p.positionals.slice(1), ...p.rest]);
  const container = p.positionals[0];
  if (container === undefined) throw new CmError("usage", "logs: no container given", { hint: "name the container: cm logs CONTAINER" });
  return logs(hostContext(), container, p.values.follow === true, (chunk) => process.stdout.write(chunk));
}
