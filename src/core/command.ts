/**
 * The command table's types and what is generated from them: each command is declared once, as
 * data (`CommandSpec`, in `src/cli/<command>.ts` next to its `main`), and its `parseArgs`
 * configuration, its `--help` text and the completion scripts (`core/completion.ts`) all come
 * from that declaration. Pure: data in, text or config out.
 *
 * To add a flag: add one entry to `options` of the command's spec in `src/cli/<command>.ts`
 * (type, short letter, value placeholder, help text, completion kind), then read it from
 * `p.values` in that file's `main`: its type follows from the entry. `--help` and the completion
 * scripts pick it up; nothing else to edit.
 */

/** What the shells offer for a value: paths, cm's own names (read from disk at Tab), or fixed words. */
export type Completion = "file" | "dir" | "bundle" | "project" | "container" | readonly string[];

export interface OptionDef {
  type: "string" | "boolean";
  /** one letter, without the dash: "e" for -e */
  short?: string;
  /** may be given several times: the value is then an array */
  multiple?: boolean;
  /** placeholder of a string option's value in --help ("SIZE", "KEY=VALUE") */
  value?: string;
  /**
   * --help text: lines are word-wrapped; a line starting with a space is kept as written (a
   * preformatted table). Completion shows its first clause (up to "; " or ". ").
   */
  help: string;
  /** what completion offers for the value (string options); nothing when absent */
  complete?: Completion;
  /** parsed, but not in --help or completion */
  hidden?: boolean;
  /** a boolean whose default can be on: --help shows `--NAME[=false]` (args.ts reads Podman's =true/=false) */
  falseForm?: boolean;
}

export interface PositionalDef {
  /** placeholder in the usage line: BUNDLE, CONTAINER (choices are shown as a|b|c instead) */
  name: string;
  optional?: boolean;
  /** takes the remaining positionals ("KEY...") */
  variadic?: boolean;
  complete?: Completion;
}

export interface CommandSpec<O extends Record<string, OptionDef> = Record<string, OptionDef>> {
  name: string;
  positionals: readonly PositionalDef[];
  /** what goes after `--` ("COMMAND [ARG...]"); absent: the command takes nothing there */
  rest?: { value: string; optional?: boolean };
  /** usage lines after "cm " when the generated one does not fit (subcommands) */
  synopsis?: readonly string[];
  /** the paragraphs between the usage line and the options, printed as written */
  description: string;
  options: O;
  /** paragraphs after the options, printed as written */
  footer?: string;
}

/** The typed values `parseArgs` returns for a set of options (absent when not given). */
export type Values<O extends Record<string, OptionDef>> = {
  -readonly [K in keyof O]?: O[K]["type"] extends "string"
    ? O[K]["multiple"] extends true
      ? string[]
      : string
    : O[K]["multiple"] extends true
      ? boolean[]
      : boolean;
};

/** Declares a command; `const` keeps the option literals, so `Values<O>` is exact. */
export function defineCommand<const O extends Record<string, OptionDef>>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}

/** The `options` of node:util `parseArgs` for a command (every option, hidden ones too). */
export function parserOptions(
  options: Record<string, OptionDef>,
): Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> {
  const out: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(options)) {
    out[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  return out;
}

/** The help row every command has (handled by main.ts before the command's parser runs). */
export const HELP_OPTION: OptionDef = { type: "boolean", short: "h", help: "show this help" };

/** The visible options of a command, --help last. */
export function visibleOptions(spec: CommandSpec): [string, OptionDef][] {
  return [...Object.entries(spec.options).filter(([, o]) => !o.hidden), ["help", HELP_OPTION]];
}

function positionalWord(p: PositionalDef): string {
  const word = Array.isArray(p.complete) ? p.complete.join("|") : p.name;
  return p.variadic ? `${word}...` : word;
}

/** "cm run [BUNDLE] [OPTIONS] [-- COMMAND [ARG...]]"; consecutive optional positionals nest. */
export function usageLines(spec: CommandSpec): string[] {
  if (spec.synopsis) return spec.synopsis.map((s) => `cm ${s}`);
  let args = "";
  let open = 0;
  for (const p of spec.positionals) {
    if (p.optional) {
      args += ` [${positionalWord(p)}`;
      open++;
    } else {
      args += `${"]".repeat(open)} ${positionalWord(p)}`;
      open = 0;
    }
  }
  args += "]".repeat(open);
  if (Object.values(spec.options).some((o) => !o.hidden)) args += " [OPTIONS]";
  if (spec.rest) args += spec.rest.optional ? ` [-- ${spec.rest.value}]` : ` -- ${spec.rest.value}`;
  return [`cm ${spec.name}${args}`];
}

const WIDTH = 100;
/** where option descriptions start */
const COLUMN = 23;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

/** Option help: lines joined and wrapped at 100 columns, indented; indented lines are kept as written. */
function formatProse(text: string, indent: number, width = WIDTH): string[] {
  const out: string[] = [];
  for (const paragraph of text.trim().split(/\n\s*\n/)) {
    if (out.length > 0) out.push("");
    let buffer: string[] = [];
    const flush = () => {
      for (const l of wrap(buffer.join(" "), width - indent)) out.push(" ".repeat(indent) + l);
      buffer = [];
    };
    for (const line of paragraph.split("\n")) {
      if (/^\s/.test(line)) {
        flush();
        out.push(" ".repeat(indent) + line);
      } else buffer.push(line);
    }
    flush();
  }
  return out;
}

/** The left column of an option row: "-e, --env KEY=VALUE", "--read-only". */
export function optionLabel(name: string, o: OptionDef): string {
  const value = o.type === "string" ? ` ${o.value ?? "VALUE"}` : o.falseForm ? "[=false]" : "";
  return `${o.short ? `-${o.short}, ` : ""}--${name}${value}`;
}

/** A command's --help text. */
export function formatHelp(spec: CommandSpec): string {
  const usage = usageLines(spec);
  const out = [`Usage: ${usage[0]}`, ...usage.slice(1).map((u) => `       ${u}`), "", spec.description.trim(), "", "Options:"];
  for (const [name, o] of visibleOptions(spec)) {
    const label = `  ${optionLabel(name, o)}`;
    const text = formatProse(o.help.replace(/\n\s*\n/g, "\n"), COLUMN);
    if (label.length + 2 <= COLUMN) {
      out.push(`${label.padEnd(COLUMN)}${(text[0] ?? "").slice(COLUMN)}`, ...text.slice(1));
    } else out.push(label, ...text);
  }
  if (spec.footer) out.push("", spec.footer.trim());
  return `${out.join("\n")}\n`;
}

/** The first clause of an option's help, for completion menus. */
export function briefHelp(help: string): string {
  const prose = (help.trim().split(/\n(?=\s)/)[0] ?? "").replace(/\s+/g, " ");
  return (prose.split(/; |\. /)[0] ?? "").replace(/[;,:.]$/, "").trim();
}
