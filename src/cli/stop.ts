import { hostContext } from "../actions/context.ts";
import { stop } from "../actions/stop.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "stop",
  positionals: [{ name: "CONTAINER", complete: "container" }],
  description: `Stop a running container: SIGTERM to its main process, then SIGKILL when it is still running after
the grace period; its runtime state is removed. CONTAINER is an ID, a unique ID prefix, or a bundle
of the current project with exactly one running container. Prints the container ID.`,
  options: {
    time: { type: "string", short: "t", value: "SECONDS", help: "grace period before SIGKILL (default 10; -t as docker stop)" },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("stop", [...p.positionals.slice(1), ...p.rest]);
  const container = p.positionals[0];
  if (container === undefined) throw new CmError("usage", "stop: no container given", { hint: "name the container: cm stop CONTAINER" });
  const time = p.values.time ?? "10";
  if (!/^\d{1,6}$/.test(time))
    throw new CmError("usage", `stop: invalid --time ${JSON.stringify(time)}`, { hint: "give a whole number of seconds, 0 or more" });
  const r = await stop(hostContext(), container, Number(time));
  process.stdout.write(`${r.id}\n`);
  return 0;
}
