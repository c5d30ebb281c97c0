/**
 * Shell completion scripts, generated from the commands' own --help texts (so they cannot drift
 * from the options cm really has): the "Usage: cm NAME ..." line gives the positional arguments
 * (BUNDLE, PROJECT, CONTAINER, a|b|c), the "Options:" lines give the flags, whether they take a
 * value, and their descriptions. Commands and flags are static in the script; bundle, project and
 * container names come from disk at completion time through the hidden `cm __complete KIND`.
 * Pure: text in, text out.
 */

export type Positional = { kind: "bundle" | "project" | "container" } | { kind: "choice"; choices: string[] };

export interface Flag {
  /** "-t" */
  short?: string;
  /** "--tty" */
  long?: string;
  /** the value's placeholder ("SIZE", "host|none"), when the flag takes one */
  value?: string;
  description: string;
}

export interface CommandInfo {
  name: string;
  summary: string;
  flags: Flag[];
  positionals: Positional[];
}

const KINDS: Record<string, Positional> = {
  BUNDLE: { kind: "bundle" },
  PROJECT: { kind: "project" },
  CONTAINER: { kind: "container" },
};

// `--NAME[=false]`: a boolean flag that also takes Podman's =true/=false spelling (completed as --NAME)
const FLAG_LINE = /^ {2}(?:(-[A-Za-z0-9])(?:, )?)?(--[a-z][a-z0-9-]*)?(?:\[=[a-z]+\])?(?: ([^\s]+))?(?: {2,}(.*))?$/;

/** A command's --help text -> its flags and positional arguments. */
export function describeUsage(name: string, summary: string, usage: string): CommandInfo {
  const lines = usage.split("\n");
  const head = (lines.find((l) => l.startsWith("Usage: ")) ?? "").replace(/^Usage: cm \S+/, "");
  const beforeDash = head.split(" -- ")[0] ?? "";
  const positionals: Positional[] = [];
  for (const token of beforeDash.replace(/[[\]]/g, " ").split(/\s+/)) {
    const known = KINDS[token.replace(/\.\.\.$/, "")];
    if (known) positionals.push(known);
    else if (/^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(token)) positionals.push({ kind: "choice", choices: token.split("|") });
  }
  const flags: Flag[] = [];
  let inOptions = false;
  for (const [n, line] of lines.entries()) {
    if (/^Options:/.test(line)) {
      inOptions = true;
      continue;
    }
    if (!inOptions) continue;
    if (line.trim() === "" || /^\S/.test(line)) {
      if (/^\S/.test(line)) inOptions = false;
      continue;
    }
    const m = FLAG_LINE.exec(line);
    if (!m || (!m[1] && !m[2])) continue;
    // the description: its first clause; on the next line when the flag's own line has none
    const text = m[4] ?? (/^ {4,}\S/.test(lines[n + 1] ?? "") ? (lines[n + 1] ?? "") : "");
    const flag: Flag = { description: shorten(text) };
    if (m[1]) flag.short = m[1];
    if (m[2]) flag.long = m[2];
    if (m[3]) flag.value = m[3];
    flags.push(flag);
  }
  return { name, summary, flags, positionals };
}

function shorten(text: string): string {
  return (text.trim().split("; ")[0] ?? "").replace(/[;,:.]$/, "");
}

/** Values some flags take, by name (their placeholders say only MODE or NAME|PATH). */
const VALUES: Record<string, string[]> = { "--network": ["host", "none"], "--runtime": ["runc", "runsc", "crun"] };

/** Value choices of a flag: from its placeholder ("host|none") or its name. */
function flagChoices(flag: Flag): string[] | undefined {
  if (!flag.value) return undefined;
  if (/^[a-z0-9-]+(\|[a-z0-9-]+)+$/.test(flag.value)) return flag.value.split("|");
  return flag.long === undefined ? undefined : VALUES[flag.long];
}

type ValueKind = "project" | "files" | "none" | { choices: string[] };

function valueKind(flag: Flag): ValueKind {
  if (flag.long === "--project") return "project";
  const choices = flagChoices(flag);
  if (choices) return { choices };
  // paths: files; sizes, numbers, names, sources: nothing sensible to offer
  return flag.value && /FILE|PATH|SRC/.test(flag.value) ? "files" : "none";
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

/** The bash script: `source <(cm completion bash)`. */
export function bashScript(commands: CommandInfo[]): string {
  const cases = commands
    .map((c) => {
      const flags = c.flags.flatMap(names).join(" ");
      const valued = c.flags
        .filter((f) => f.value)
        .flatMap(names)
        .join(" ");
      const kinds = c.positionals.map(positionalWord).join(" ");
      return `    ${c.name}) flags=${sq(flags)}; valued=${sq(valued)}; kinds=(${kinds}) ;;`;
    })
    .join("\n");
  const valueCases = commands
    .flatMap((c) => c.flags.filter((f) => f.value))
    .map((f) => ({ pattern: names(f).join("|"), kind: valueKind(f) }))
    .filter((v, i, all) => all.findIndex((w) => w.pattern === v.pattern) === i)
    .map(({ pattern, kind }) => {
      if (kind === "project") return `      ${pattern}) _cm_words "$("$cm" __complete projects 2>/dev/null)" ;;`;
      if (kind === "files") return `      ${pattern}) COMPREPLY=($(compgen -f -- "$cur")) ;;`;
      if (kind === "none") return `      ${pattern}) ;;`;
      return `      ${pattern}) _cm_words ${kind.choices.join(" ")} ;;`;
    })
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
${valueCases}
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
      const valued = c.flags
        .filter((f) => f.value)
        .flatMap(names)
        .join(" ");
      const kinds = c.positionals.map(positionalWord).join(" ");
      return `    ${c.name}) flags=(${flagSpecs}); valued=(${valued}); kinds=(${kinds}) ;;`;
    })
    .join("\n");
  const valueCases = commands
    .flatMap((c) => c.flags.filter((f) => f.value))
    .map((f) => ({ pattern: names(f).join("|"), kind: valueKind(f) }))
    .filter((v, i, all) => all.findIndex((w) => w.pattern === v.pattern) === i)
    .map(({ pattern, kind }) => {
      if (kind === "project") return `      (${pattern}) compadd -- \${(f)"$("$cm" __complete projects 2>/dev/null)"} ;;`;
      if (kind === "files") return `      (${pattern}) _files ;;`;
      if (kind === "none") return `      (${pattern}) _message 'value' ;;`;
      return `      (${pattern}) compadd -- ${kind.choices.join(" ")} ;;`;
    })
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
${valueCases}
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
        const kind = valueKind(f);
        if (kind === "project") parts.push(`-x -a ${sq("(__cm_call projects)")}`);
        else if (kind === "files") parts.push("-r -F");
        else if (kind === "none") parts.push("-x");
        else parts.push(`-x -a ${sq(kind.choices.join(" "))}`);
      }
      parts.push(`-d ${sq(f.description)}`);
      out.push(parts.join(" "));
    }
  }
  const cases = commands
    .map((c) => {
      const valued = c.flags
        .filter((f) => f.value)
        .flatMap(names)
        .join(" ");
      const kinds = c.positionals.map(positionalWord).join(" ");
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
        case 'choice:*'
            string split , (string replace choice: '' $kind)
    end
end

complete -c cm -n 'not __fish_use_subcommand' -a '(__cm_positional)'
`);
  return out.join("\n");
}
