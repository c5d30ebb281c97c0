import { hostContext } from "../actions/context.ts";
import { trust } from "../actions/trust.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "trust",
  positionals: [],
  synopsis: ["trust [--show | --revoke]"],
  description: `Approve this project's cm.toml. cm uses a project file only once you approved its exact content
at this place: a container, a git pull or a cloned repository can write cm.toml, and its keys
(runtime, volumes, env, network, limits) decide what a run may do. A new or changed file is not
used: an interactive cm shows it and asks, otherwise cm refuses to run (exit 125) until you run
cm trust. Approvals are kept in $CM_CONFIG_DIR (default ~/.config/cm)/trusted, by the file's
real path and the sha256 of its content. CM_TRUST_ALL=1 in your environment turns this off.`,
  options: {
    show: { type: "boolean", help: "print whether it is approved; if not, the file (or what changed since the approval)" },
    revoke: { type: "boolean", help: "withdraw the approval" },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("trust", [...p.positionals, ...p.rest]);
  if (p.values.show && p.values.revoke)
    throw new CmError("usage", "trust: --show and --revoke cannot be combined", { hint: "give one of them" });
  return trust(hostContext(), p.values.show === true ? "show" : p.values.revoke === true ? "revoke" : "approve");
}
