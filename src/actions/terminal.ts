import { CmError } from "../errors.ts";

/** The runtime connects a container's terminal to cm's own: without one it can only fail. */
export function noTerminal(command: string): CmError {
  return new CmError("no-terminal", `${command}: --tty needs a terminal, and stdin is not one`, {
    hint: "leave out -t, or run cm from a terminal",
  });
}
