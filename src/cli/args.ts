/**
 * argv -> typed values, with node:util's strict parser configured from the command's spec
 * (`core/command.ts`). Unknown flags, missing values and stray arguments become one-line CmErrors
 * that point at the command's --help.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { type CommandSpec, type OptionDef, parserOptions, type Values } from "../core/command.ts";
import { CmError } from "../errors.ts";

export type OptionSpec = NonNullable<ParseArgsConfig["options"]>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  /** arguments before `--` */
  positionals: string[];
  /** arguments after `--` */
  rest: string[];
}

/** argv of a declared command -> its typed values, positionals and the arguments after `--`. */
export function parseCommand<O extends Record<string, OptionDef>>(
  spec: CommandSpec<O>,
  argv: string[],
): { values: Values<O>; positionals: string[]; rest: string[] } {
  const p = parse(spec.name, argv, parserOptions(spec.options));
  return { values: p.values as Values<O>, positionals: p.positionals, rest: p.rest };
}

/**
 * The untyped parser under `parseCommand` (kept for branches that still pass `parseArgs` options
 * directly; new code declares its options in the command's spec).
 */
export function parse(command: string, argv: string[], options: OptionSpec): Parsed {
  const dash = argv.indexOf("--");
  const head = dash < 0 ? argv : argv.slice(0, dash);
  const rest = dash < 0 ? [] : argv.slice(dash + 1);
  try {
    const { values, positionals } = parseArgs({ args: head, options, allowPositionals: true, strict: true });
    return { values: values as Parsed["values"], positionals, rest };
  } catch (err) {
    const lines = (err as Error).message.split("\n");
    const message = lines[0]?.replace(/\.$/, "") ?? "invalid arguments";
    // Node explains an "ambiguous" value (one starting with "-") on its last line: that is the hint.
    const nodeHint = lines.length > 2 ? lines[lines.length - 1]?.replace(/\.$/, "") : undefined;
    throw new CmError("usage", `${command}: ${message.charAt(0).toLowerCase()}${message.slice(1)}`, {
      hint: nodeHint ? `${nodeHint.charAt(0).toLowerCase()}${nodeHint.slice(1)}` : `see cm ${command} --help`,
    });
  }
}

export function tooMany(command: string, extra: string[], hint?: string): CmError {
  return new CmError("usage", `${command}: unexpected argument ${JSON.stringify(extra[0])}`, {
    hint: hint ?? `see cm ${command} --help`,
  });
}

export function str(v: Parsed["values"][string]): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** -t / -T: a terminal forced on or off, or undefined to decide from stdin; both at once is an error. */
export function ttyChoice(command: string, values: { tty?: boolean; "no-tty"?: boolean }): boolean | undefined {
  if (values.tty === true && values["no-tty"] === true) {
    throw new CmError("usage", `${command}: -t/--tty and -T/--no-tty contradict each other`, { hint: "give one of them" });
  }
  return values["no-tty"] === true ? false : values.tty === true ? true : undefined;
}
