/**
 * Shell completion scripts (bash, zsh, fish), generated from the command table (`core/command.ts`):
 * each command's options, whether they take a value, what to offer for it, and its positionals.
 * Commands and flags are static in the script; bundle, project and container names come from disk
 * at completion time through the hidden `cm __complete KIND`. Pure: data in, text out.
 */
import { briefHelp, type CommandSpec, type Completion, visibleOptions } from "./command.ts";

export type Positional = { kind: "bundle" | "project" | "container" | "file" | "dir" } | { kind: "choice"; choices: readonly string[] };

export interface Flag {
  /** "-t" */
  short?: string;
  /** "--tty" */
  long: string;
  /** the value's placeholder ("SIZE"), when the flag takes one */
  value?: string;
  /** what to offer for the value */
  complete?: Completion;
  description: string;
}

export interface CommandInfo {
  name: string;
  summary: string;
  flags: Flag[];
  positionals: Positional[];
}

function positional(c: Completion | undefined): Positional | undefined {
  if (c === undefined) return undefined;
  return typeof c === "string" ? { kind: c } : { kind: "choice", choices: c };
}

/** A command's spec -> what the scripts need: visible flags (with --help) and completed positionals. */
export function describeCommand(spec: CommandSpec, summary: string): CommandInfo {
  const flags = visibleOptions(spec).map(([name, o]): Flag => {
    const flag: Flag = { long: `--${name}`, description: briefHelp(o.help) };
    if (o.short) flag.short = `-${o.short}`;
    if (o.type === "string") flag.value = o.value ?? "VALUE";
    if (o.type === "string" && o.complete !== undefined) flag.complete = o.complete;
    return flag;
  });
  // positionals up to the first one without a completion (later ones cannot be counted reliably)
  const positionals: Positional[] = [];
  for (const p of spec.positionals) {
    const kind = positional(p.complete);
    if (!kind) break;
    positionals.push(kind);
  }
  return { name: spec.name, summary, flags, positionals };
}

type ValueKind = Exclude<Completion, readonly string[]> | "none" | { choices: readonly string[] };

function valueKind(flag: Flag): ValueKind {
  const c = flag.complete;
  if (c === undefined) return "none";
  return typeof c === "string" ? c : { choices: c };
}

/** The value flags of all commands, one case per flag name (kinds of a name agree: a unit test checks). */
function valueCases(commands: CommandInfo[]): { pattern: string; kind: ValueKind }[] {
  return commands
    .flatMap((c) => c.flags.filter((f) => f.value))
    .map((f) => ({ pattern: names(f).join("|"), kind: valueKind(f) }))
    .filter((v, i, all) => all.findIndex((w) => w.pattern === v.pattern) === i);
}

/** `cm __complete bundles` of the project named so far on the command line (shell syntax). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
const BUNDLES_ARG = 'bundles ${project:+"$project"}';

function bashValue(kind: ValueKind): string {
  if (typeof kind === "object") return `_cm_words ${kind.choices.join(" ")}`;
  if (kind === "none") return "";
  if (kind === "file") return 'COMPREPLY=($(compgen -f -- "$cur"))';
  if (kind === "dir") return 'COMPREPLY=($(compgen -d -- "$cur"))';
  const arg = kind === "bundle" ? BUNDLES_ARG : `${kind}s`;
  return `_cm_words "$("$cm" __complete ${arg} 2>/dev/null)"`;
}

function zshValue(kind: ValueKind): string {
  if (typeof kind === "object") return `compadd -- ${kind.choices.join(" ")}`;
  if (kind === "none") return "_message 'value'";
  if (kind === "file") return "_files";
  if (kind === "dir") return "_files -/";
  const arg = kind === "bundle" ? BUNDLES_ARG : `${kind}s`;
  return `compadd -- \${(f)"$("$cm" __complete ${arg} 2>/dev/null)"}`;
}

function fishValue(kind: ValueKind): string {
  if (typeof kind === "object") return `-x -a ${sq(kind.choices.join(" "))}`;
  if (kind === "none") return "-x";
  if (kind === "file") return "-r -F";
  if (kind === "dir") return `-x -a ${sq("(__fish_complete_directories (commandline -ct))")}`;
  return `-x -a ${sq(`(__cm_call ${kind}s)`)}`;
}

function names(flag: Flag): string[] {
  return [flag.short, flag.long].filter((n): n is string => n !== undefined);
}

function sq(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}

function positionalWord(p: Positional): string {
  return p.kind === "choice" ? `choice:${p.choices.join(",")}` : p.kind;
}

/** What every script's per-command case holds: the flags that take a value, the positionals' kinds. */
function shape(c: CommandInfo): { valued: string; kinds: string } {
  const valued = c.flags
    .filter((f) => f.value)
    .flatMap(names)
    .join(" ");
  return { valued, kinds: c.positionals.map(positionalWord).join(" ") };
}

/** The bash script: `source <(cm completion bash)`. */
export function bashScript(commands: CommandInfo[]): string {
  const cases = commands
    .map((c) => {
      const flags = c.flags.flatMap(names).join(" ");
      const { valued, kinds } = shape(c);
      return `    ${c.name}) flags=${sq(flags)}; valued=${sq(valued)}; kinds=(${kinds}) ;;`;
    })
    .join("\n");
  const values = valueCases(commands)
    .map(({ pattern, kind }) => `      ${pattern}) ${bashValue(kind)} ;;`)
    .join("\n");
  return `# bash completion for cm. Load it with:  source <(cm completion bash)
# or install it:  cm completion bash > ~/.local/share/bash-completion/completions/cm

# candidates: the arguments, each of which may hold several names one a line
_cm_words() {
  local IFS=$'\\n' c
  local -a found=($(compgen -W "$*" -- "$cur"))
  COMPREPLY=()
  # names with spaces or quotes (project directories may have them) are inserted quoted
  for c in "\${found[@]}"; do
    if [[ $c == *[[:space:]\\'\\"\\\\]* ]]; then COMPREPLY+=("$(printf '%q' "$c")"); else COMPREPLY+=("$c"); fi
  done
}

_cm() {
  local cm=\${COMP_WORDS[0]} cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local i w cmd="" cmdi=0 flags="" valued="" project="" npos=0
  local -a kinds=()
  COMPREPLY=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case $w in
      --) return 0 ;;
      -*) ;;
      *) cmd=$w; cmdi=$i; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W ${sq(`${commands.map((c) => c.name).join(" ")} --help --version`)} -- "$cur"))
    return 0
  fi
  case $cmd in
${cases}
    *) return 0 ;;
  esac
  for ((i = cmdi + 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    [[ $w == -- ]] && return 0
    if [[ " $valued " == *" $w "* ]]; then
      # --flag=value arrives as three words: --flag = value
      [[ \${COMP_WORDS[i+1]} == = ]] && ((i++))
      [[ $w == --project ]] && project=\${COMP_WORDS[i+1]}
      ((i++))
      continue
    fi
    [[ $w == -* ]] && continue
    [[ \${kinds[npos]} == project ]] && project=$w
    ((npos++))
  done
  local flag=$prev
  [[ $prev == = ]] && flag=\${COMP_WORDS[COMP_CWORD-2]}
  if ((COMP_CWORD - 1 > cmdi)) && [[ " $valued " == *" $flag "* ]]; then
    case $flag in
${values}
    esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
    return 0
  fi
  case \${kinds[npos]} in
    bundle) _cm_words "$("$cm" __complete bundles \${project:+"$project"} 2>/dev/null)" ;;
    project) _cm_words "$("$cm" __complete projects 2>/dev/null)" ;;
    container) _cm_words "$("$cm" __complete containers 2>/dev/null)" ;;
    file) COMPREPLY=($(compgen -f -- "$cur")) ;;
    dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
    choice:*) w=\${kinds[npos]#choice:}; _cm_words \${w//,/ } ;;
  esac
  return 0
}

complete -F _cm cm
`;
}

function zq(text: string): string {
  // _describe specs: "name:description"; a colon in the name would need escaping (names have none)
  return sq(text.replace(/\s+/g, " "));
}

/** The zsh script: `source <(cm completion zsh)` (after compinit), or save as _cm in $fpath. */
export function zshScript(commands: CommandInfo[]): string {
  const described = commands.map((c) => `    ${zq(`${c.name}:${c.summary}`)}`).join("\n");
  const cases = commands
    .map((c) => {
      const flagSpecs = c.flags.flatMap((f) => names(f).map((n) => zq(`${n}:${f.description}`))).join(" ");
      const { valued, kinds } = shape(c);
      return `    ${c.name}) flags=(${flagSpecs}); valued=(${valued}); kinds=(${kinds}) ;;`;
    })
    .join("\n");
  const values = valueCases(commands)
    .map(({ pattern, kind }) => `      (${pattern}) ${zshValue(kind)} ;;`)
    .join("\n");
  return `#compdef cm
# zsh completion for cm. Load it with:  source <(cm completion zsh)   (after compinit)
# or install it:  cm completion zsh > "\${fpath[1]}/_cm"

_cm() {
  local cm=\${words[1]} cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
  local i w cmd="" cmdi=0 project="" npos=1
  local -a commands flags valued kinds
  commands=(
${described}
  )
  for ((i = 2; i < CURRENT; i++)); do
    w=\${words[i]}
    case $w in
      --) return 0 ;;
      -*) ;;
      *) cmd=$w; cmdi=$i; break ;;
    esac
  done
  if [[ -z $cmd ]]; then
    if [[ $cur == -* ]]; then
      compadd -- --help --version
    else
      _describe -t commands 'cm command' commands
    fi
    return 0
  fi
  case $cmd in
${cases}
    (*) return 0 ;;
  esac
  for ((i = cmdi + 1; i < CURRENT; i++)); do
    w=\${words[i]}
    [[ $w == -- ]] && return 0
    if (( \${valued[(Ie)$w]} )); then
      [[ $w == --project ]] && project=\${words[i+1]}
      ((i++))
      continue
    fi
    [[ $w == -* ]] && continue
    [[ \${kinds[npos]} == project ]] && project=$w
    ((npos++))
  done
  if ((CURRENT - 1 > cmdi)) && (( \${valued[(Ie)$prev]} )); then
    case $prev in
${values}
    esac
    return 0
  fi
  if [[ $cur == -* ]]; then
    _describe -t options 'option' flags
    return 0
  fi
  case \${kinds[npos]} in
    (bundle) compadd -- \${(f)"$("$cm" __complete bundles \${project:+"$project"} 2>/dev/null)"} ;;
    (project) compadd -- \${(f)"$("$cm" __complete projects 2>/dev/null)"} ;;
    (container) compadd -- \${(f)"$("$cm" __complete containers 2>/dev/null)"} ;;
    (file) _files ;;
    (dir) _files -/ ;;
    (choice:*) w=\${kinds[npos]#choice:}; compadd -- \${(s:,:)w} ;;
  esac
  return 0
}

if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
  _cm "$@"
else
  compdef _cm cm
fi
`;
}

/** The fish script: `cm completion fish | source`, or save as ~/.config/fish/completions/cm.fish. */
export function fishScript(commands: CommandInfo[]): string {
  const out: string[] = [
    "# fish completion for cm. Load it with:  cm completion fish | source",
    "# or install it:  cm completion fish > ~/.config/fish/completions/cm.fish",
    "",
    "complete -c cm -f",
    `complete -c cm -n __fish_use_subcommand -l help -d ${sq("show help")}`,
    `complete -c cm -n __fish_use_subcommand -l version -d ${sq("print the version")}`,
  ];
  for (const c of commands) out.push(`complete -c cm -n __fish_use_subcommand -a ${c.name} -d ${sq(c.summary)}`);
  for (const c of commands) {
    for (const f of c.flags) {
      const parts = [`complete -c cm -n ${sq(`__fish_seen_subcommand_from ${c.name}`)}`];
      if (f.short) parts.push(`-s ${f.short.slice(1)}`);
      if (f.long) parts.push(`-l ${f.long.slice(2)}`);
      if (f.value) {
        parts.push(fishValue(valueKind(f)));
      }
      parts.push(`-d ${sq(f.description)}`);
      out.push(parts.join(" "));
    }
  }
  const cases = commands
    .map((c) => {
      const { valued, kinds } = shape(c);
      return `        case ${c.name}\n            set valued ${valued}\n            set kinds ${kinds}`;
    })
    .join("\n");
  out.push(`
function __cm_call
    set -l cm (commandline -opc)[1]
    $cm __complete $argv 2>/dev/null
end

# Candidates for the positional argument being completed (bundle, project, container, choice).
function __cm_positional
    set -l toks (commandline -opc)
    set -l cmd ''
    set -l i 2
    while test $i -le (count $toks)
        switch $toks[$i]
            case --
                return
            case '-*'
            case '*'
                set cmd $toks[$i]
                break
        end
        set i (math $i + 1)
    end
    test -n "$cmd"; or return
    set -l valued
    set -l kinds
    switch $cmd
${cases}
        case '*'
            return
    end
    set -l project ''
    set -l npos 1
    set i (math $i + 1)
    while test $i -le (count $toks)
        set -l w $toks[$i]
        if test "$w" = --
            return
        else if contains -- $w $valued
            if test "$w" = --project; and test $i -lt (count $toks)
                set project $toks[(math $i + 1)]
            end
            set i (math $i + 1)
        else if not string match -q -- '-*' $w
            if test "$kinds[$npos]" = project
                set project $w
            end
            set npos (math $npos + 1)
        end
        set i (math $i + 1)
    end
    if contains -- $toks[-1] $valued
        return
    end
    set -l kind $kinds[$npos]
    switch "$kind"
        case bundle
            if test -n "$project"
                __cm_call bundles $project
            else
                __cm_call bundles
            end
        case project
            __cm_call projects
        case container
            __cm_call containers
        case file
            __fish_complete_path (commandline -ct)
        case dir
            __fish_complete_directories (commandline -ct)
        case 'choice:*'
            string split , (string replace choice: '' $kind)
    end
end

complete -c cm -n 'not __fish_use_subcommand' -a '(__cm_positional)'
`);
  return out.join("\n");
}
