import { hostContext } from "../actions/context.ts";
import { trust } from "../actions/trust.ts";
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "trust",
  positionals: [],
  synopsis: ["trust [--show | --revoke | --sha256 DIGEST]"],
  description: `Approve this project's cm.toml. cm uses a project file only once you approved its exact content
at this place: a container, a git pull or a cloned repository can write cm.toml, and its keys
(runtime, volumes, env, network, limits) decide what a run may do. A new or changed file is not
used: an interactive cm shows it and asks, otherwise cm refuses to run (exit 125) until you run
cm trust. cm trust itself, on a terminal, shows a new or changed file and asks; elsewhere it
approves the file as it is. A running container can rewrite cm.toml between your review and
cm trust: --sha256 with the digest that cm trust --show printed approves only the content you
reviewed. Approvals are kept in $CM_CONFIG_DIR (default ~/.config/cm)/trusted, by the file's
real path and the sha256 of its content. CM_TRUST_ALL=1 in your environment turns this off.`,
  options: {
    show: { type: "boolean", help: "print whether it is approved; if not, the file (or what changed since the approval)" },
    revoke: { type: "boolean", help: "withdraw the approval" },
    sha256: {
      type: "string",
      value: "DIGEST",
      help: "approve only if the file's content has this sha256 (64 hex digits, as --show prints it); otherwise approve nothing",
    },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("trust", [...p.positionals, ...p.rest]);
  if (p.values.show && p.values.revoke)
    throw new CmError("usage", "trust: --show and --revoke cannot be combined", { hint: "give one of them" });
  const sha256 = p.values.sha256;
  if (sha256 !== undefined) {
    if (p.values.show || p.values.revoke)
      throw new CmError("usage", "trust: --sha256 cannot be combined with --show or --revoke", { hint: "give one of them" });
    if (!/^[0-9a-f]{64}$/i.test(sha256))
      throw new CmError("usage", `trust: --sha256 ${JSON.stringify(sha256)} is not a sha256 digest`, {
        hint: "give the 64 hex digits cm trust --show printed",
      });
  }
  return trust(hostContext(), p.values.show === true ? "show" : p.values.revoke === true ? "revoke" : "approve", sha256?.toLowerCase());
}
