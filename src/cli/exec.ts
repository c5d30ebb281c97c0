import { hostContext } from "../actions/context.ts";
import { exec } from "../actions/exec.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany, ttyChoice } from "./args.ts";

export const command = defineCommand({
  name: "exec",
  positionals: [{ name: "CONTAINER", complete: "container" }],
  rest: { value: "COMMAND [ARG...]" },
  description: `Run COMMAND in a running container, with the container's environment and working directory.
COMMAND runs as given: an image's entrypoint is not put in front of it (as docker exec).
CONTAINER is an ID, a unique ID prefix, or the name of a bundle of the current project that has
exactly one running container. Exits with the command's status, as cm run does (127 not found,
126 not executable, 128+N for signal N, 125 for cm's own errors).`,
  options: {
    tty: { type: "boolean", short: "t", help: "allocate a terminal (default: only when stdin is a terminal)" },
    "no-tty": { type: "boolean", short: "T", help: "do not allocate a terminal" },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 1) throw tooMany("exec", p.positionals.slice(1), "put the command after --: cm exec CONTAINER -- COMMAND");
  const container = p.positionals[0];
  if (container === undefined)
    throw new CmError("usage", "exec: no container given", { hint: "name the container: cm exec CONTAINER -- COMMAND" });
  const tty = ttyChoice("exec", p.values);
  return exec(hostContext(), { container, command: p.rest, tty });
}
