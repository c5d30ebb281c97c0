/**
 * argv -> typed values, with node:util's strict parser. Unknown flags, missing values and stray
 * arguments become one-line CmErrors that point at the command's --help.
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
 * Boolean options also take Podman's (pflag's) `--NAME=true` and `--NAME=false` spellings, which
 * node's parseArgs has no form for: they are taken out of argv before parsing (never the value of
 * a preceding string option) and their value set after it. A plain `--NAME` is true; a later
 * spelling wins. (`--help` texts show the flags where turning off matters as `--NAME[=false]`.)
 */
export function parse(command: string, argv: string[], options: OptionSpec): Parsed {
  const dash = argv.indexOf("--");
  let head = dash < 0 ? argv : argv.slice(0, dash);
  const rest = dash < 0 ? [] : argv.slice(dash + 1);
  const explicit = new Map<string, boolean>();
  const boolValued = Object.keys(options).filter((k) => options[k]?.type === "boolean");
  if (boolValued.length > 0) {
    const kept: string[] = [];
    for (let i = 0; i < head.length; i++) {
      const a = head[i] as string;
      kept.push(a);
      if (takesValue(a, options) && i + 1 < head.length) {
        kept.push(head[++i] as string);
        continue;
      }
      const m = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/s.exec(a);
      const name = m?.[1];
      if (!m || name === undefined || !boolValued.includes(name)) continue;
      const value = m[2];
      if (value === undefined) {
        explicit.set(name, true);
      } else if (value === "true" || value === "false") {
        explicit.set(name, value === "true");
      } else {
        throw new CmError("usage", `${command}: --${name}=${value}: the value must be true or false`, {
          hint: `see cm ${command} --help`,
        });
      }
      kept.pop();
    }
    head = kept;
  }
  try {
    const { values, positionals } = parseArgs({ args: head, options, allowPositionals: true, strict: true });
    for (const [name, value] of explicit) (values as Record<string, unknown>)[name] = value;
    return { values: values as Parsed["values"], positionals, rest };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const named = /'(-[^']*)'/.exec((err as Error).message)?.[1];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && named !== undefined) {
      throw new CmError("usage", `${command}: unknown option ${named}`, { hint: `see cm ${command} --help` });
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && named !== undefined && /ambiguous/.test((err as Error).message)) {
      // "--pids-limit -1": node will not take a value that starts with "-" (it may be a forgotten value)
      const names = named.split(", ");
      const long = Object.entries(options).find(([, o]) => "short" in o && `-${o.short}` === names[0])?.[0];
      if (long !== undefined) names.push(`--${long}`);
      const i = head.findIndex((a) => names.includes(a));
      const flag = i >= 0 ? (head[i] as string) : named;
      const value = i >= 0 ? head[i + 1] : undefined;
      throw new CmError(
        "usage",
        `${command}: ${flag}${value === undefined ? "" : ` ${value}`}: a value starting with "-" looks like an option`,
        {
          hint:
            value === undefined
              ? `see cm ${command} --help`
              : `if it is the value, write ${names.find((n) => n.startsWith("--")) ?? flag}=${value}`,
        },
      );
    }
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

/** -t / -T: a terminal forced on or off, or undefined to decide from stdin; both at once is an error. */
export function ttyChoice(command: string, values: { tty?: boolean; "no-tty"?: boolean }): boolean | undefined {
  if (values.tty === true && values["no-tty"] === true) {
    throw new CmError("usage", `${command}: -t/--tty and -T/--no-tty contradict each other`, { hint: "give one of them" });
  }
  return values["no-tty"] === true ? false : values.tty === true ? true : undefined;
}

/** Whether argv token `a` is a string option whose value is the next token (`--env`, `-e`; not `--env=X`, `-eX`). */
function takesValue(a: string, options: OptionSpec): boolean {
  if (a.startsWith("--")) return !a.includes("=") && options[a.slice(2)]?.type === "string";
  if (a.length !== 2 || !a.startsWith("-")) return false;
  return Object.values(options).some((o) => o.short === a[1] && o.type === "string");
}
