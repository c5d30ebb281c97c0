import type { CommandEntry } from "../commands.ts";
import { defineCommand } from "../core/command.ts";
import { bashScript, type CommandInfo, describeCommand, fishScript, zshScript } from "../core/completion.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "completion",
  positionals: [{ name: "SHELL", complete: ["bash", "zsh", "fish"] }],
  description: `Print a completion script for the shell: commands, their options, and bundle, project and
container names (read from disk when you press Tab).

  bash   source <(cm completion bash)         (in ~/.bashrc), or
         cm completion bash > ~/.local/share/bash-completion/completions/cm
  zsh    source <(cm completion zsh)          (in ~/.zshrc, after compinit), or
         cm completion zsh > "\${fpath[1]}/_cm"
  fish   cm completion fish > ~/.config/fish/completions/cm.fish`,
  options: {},
});

const SHELLS = { bash: bashScript, zsh: zshScript, fish: fishScript } as const;

/** `commands` is the command list (commands.ts), passed in by main.ts: no import cycle through it. */
export async function main(argv: string[], commands: Record<string, CommandEntry> = {}): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("completion", [...p.positionals.slice(1), ...p.rest]);
  const shell = p.positionals[0];
  if (shell === undefined || !Object.hasOwn(SHELLS, shell)) {
    throw new CmError("usage", shell === undefined ? "completion: which shell?" : `completion: unknown shell ${JSON.stringify(shell)}`, {
      hint: "cm completion bash, cm completion zsh or cm completion fish",
    });
  }
  const infos: CommandInfo[] = [];
  for (const c of Object.values(commands)) {
    if (!c.hidden) infos.push(describeCommand((await c.load()).command, c.summary));
  }
  process.stdout.write(SHELLS[shell as keyof typeof SHELLS](infos));
  return 0;
}
