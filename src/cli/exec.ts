import { hostContext } from "../actions/context.ts";
import { exec } from "../actions/exec.ts";
import { CmError } from "../errors.ts";
import { parse, tooMany, ttyChoice } from "./args.ts";

export const usage = `Usage: cm exec [OPTIONS] CONTAINER -- COMMAND [ARG...]

Run COMMAND in a running container, with the container's environment and working directory.
COMMAND runs as given: an image's entrypoint is not put in front of it (as docker exec).
CONTAINER is an ID, a unique ID prefix, or the name of a bundle of the current project that has
exactly one running container. Exits with the command's status, as cm run does (127 not found,
126 not executable, 128+N for signal N, 125 for cm's own errors).

Options:
  -t, --tty      allocate a terminal (default: only when stdin is a terminal)
  -T, --no-tty   do not allocate a terminal
  -h, --help     show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("exec", argv, { tty: { type: "boolean", short: "t" }, "no-tty": { type: "boolean", short: "T" } });
  if (p.positionals.length > 1) throw tooMany("exec", p.positionals.slice(1), "put the command after --: cm exec CONTAINER -- COMMAND");
  const container = p.positionals[0];
  if (container === undefined)
    throw new CmError("usage", "exec: no container given", { hint: "name the container: cm exec CONTAINER -- COMMAND" });
  const tty = ttyChoice("exec", p.values);
  return exec(hostContext(), { container, command: p.rest, tty });
}
