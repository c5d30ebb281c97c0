import { hostContext } from "../actions/context.ts";
import { type PsEntry, ps } from "../actions/ps.ts";
import { defineCommand } from "../core/command.ts";
import { displayName, escapeControls } from "../core/names.ts";
import { formatTable } from "../core/table.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "ps",
  positionals: [],
  description: `List cm's containers: ID, project, bundle, status, PID (of the container's init, on the host),
when it started, and its command.

Status: running; starting; exited (a detached run that ended, with its exit status: its log is
kept until cm gc); gone (its cm was killed and the container ended: cm gc removes it); review
(with --all: a --review run that ended, its changes pending: cm diff, cm apply, cm discard).`,
  options: {
    all: { type: "boolean", short: "a", help: "also list exited and gone containers" },
    json: {
      type: "boolean",
      help: `a JSON array of objects with the fields id, project, bundle, status, pid (null when not
running), started and ended (ISO 8601, ended null unless exited), exitCode (null unless exited),
oomKilled (true when killed for memory; null unless exited), command (array), detached (boolean),
runtime (path), review (boolean: its changes are pending review)`,
    },
  },
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("ps", [...p.positionals, ...p.rest]);
  const entries = ps(hostContext(), p.values.all === true);
  if (p.values.json === true) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(`${table(entries)}\n`);
  return 0;
}

function table(entries: PsEntry[]): string {
  return formatTable([
    ["ID", "PROJECT", "BUNDLE", "STATUS", "PID", "STARTED", "COMMAND"],
    ...entries.map((e) => [
      e.id,
      displayName(e.project),
      e.bundle,
      e.status === "exited"
        ? `exited (${e.exitCode ?? "stopped by cm stop, status not seen"}${e.oomKilled ? ", out of memory" : ""})`
        : e.status,
      e.pid === null ? "-" : String(e.pid),
      e.started.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      // JSON escapes C0; escapeControls the C1 and bidi controls too (a container's command can hold them)
      e.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : escapeControls(JSON.stringify(a)))).join(" "),
    ]),
  ]);
}
