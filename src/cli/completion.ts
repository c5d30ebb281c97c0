import type { Commands } from "../commands.ts";
import { bashScript, type CommandInfo, describeUsage, fishScript, zshScript } from "../core/completion.ts";
import { CmError } from "../errors.ts";
import { parse, tooMany } from "./args.ts";

export const usage = `Usage: cm completion bash|zsh|fish

Print a completion script for the shell: commands, their options, and bundle, project and
container names (read from disk when you press Tab).

  bash   source <(cm completion bash)         (in ~/.bashrc), or
         cm completion bash > ~/.local/share/bash-completion/completions/cm
  zsh    source <(cm completion zsh)          (in ~/.zshrc, after compinit), or
         cm completion zsh > "\${fpath[1]}/_cm"
  fish   cm completion fish > ~/.config/fish/completions/cm.fish

Options:
  -h, --help           show this help
`;

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

export async function main(argv: string[], commands: Commands): Promise<number> {
  const p = parse("completion", argv, {});
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("completion", [...p.positionals.slice(1), ...p.rest]);
  const shell = p.positionals[0];
  if (shell === undefined || !(shell in SHELLS)) {
    throw new CmError("usage", shell === undefined ? "completion: which shell?" : `completion: unknown shell ${JSON.stringify(shell)}`, {
      hint: "cm completion bash, cm completion zsh or cm completion fish",
    });
  }
  const infos: CommandInfo[] = [];
  for (const [name, c] of Object.entries(commands)) {
    if (c.hidden) continue;
    const mod = await c.load();
    infos.push(describeUsage(name, c.summary, mod.usage));
  }
  process.stdout.write(SHELLS[shell as keyof typeof SHELLS](infos));
  return 0;
}
