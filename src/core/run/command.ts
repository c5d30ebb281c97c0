/**
 * What `cm run` starts, as Docker and the OCI image spec define it. Pure.
 *   - ARGS (`cm run -- ARGS`, or cm.toml's `command`) replace the image's Cmd and follow its
 *     Entrypoint: Entrypoint + ARGS.
 *   - `--entrypoint CMD` replaces the Entrypoint with one executable (as Docker's flag), and the
 *     image's Cmd is then not used (Docker: passing --entrypoint clears the image's default
 *     command): CMD + ARGS. `--entrypoint ''` clears it: ARGS alone.
 *   - Neither: Entrypoint + Cmd. When that is empty too, there is nothing to run: the caller starts
 *     the default shell.
 * `cm exec` never uses the entrypoint (as `docker exec`): it runs its command as given.
 */
import type { ImageProcess } from "../runtime-spec/image.ts";

/** Where the first word of the command comes from (for truthful error messages). */
export type CommandOrigin = "image-entrypoint" | "entrypoint-flag" | "command" | "image-cmd";

export interface RunCommand {
  args: string[];
  origin: CommandOrigin;
}

export interface GivenCommand {
  /** ARGS after `--` (or the project file's command); empty when none */
  command: readonly string[];
  /** --entrypoint's value; "" clears the entrypoint; undefined when not given */
  entrypoint?: string | undefined;
}

export function runCommand(image: ImageProcess | undefined, given: GivenCommand): RunCommand | undefined {
  const flag = given.entrypoint;
  const entrypoint = flag === undefined ? (image?.entrypoint ?? []) : flag === "" ? [] : [flag];
  const cmd = given.command.length > 0 ? given.command : flag === undefined ? (image?.cmd ?? []) : [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) return undefined;
  const origin: CommandOrigin =
    entrypoint.length > 0
      ? flag === undefined
        ? "image-entrypoint"
        : "entrypoint-flag"
      : given.command.length > 0
        ? "command"
        : "image-cmd";
  return { args, origin };
}

/** A hint for a command that is not found or not executable, naming where it came from. */
export function commandHint(origin: CommandOrigin, first: string): string {
  switch (origin) {
    case "image-entrypoint":
      return "it is the image's entrypoint: cm run --entrypoint CMD replaces it, --entrypoint '' clears it";
    case "entrypoint-flag":
      return /\s/.test(first)
        ? "--entrypoint takes one executable: put its arguments after --, as in cm run --entrypoint sh -- -c 'CMD'"
        : "check the --entrypoint name, or install it inside the container";
    case "image-cmd":
      return "it is the image's default command: give one after --, as in cm run -- sh";
    default:
      return "check the name, or install it inside the container";
  }
}
