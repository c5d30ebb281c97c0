import { hostContext } from "../actions/context.ts";
import { type PsEntry, ps } from "../actions/ps.ts";
import { parse, tooMany } from "./args.ts";

export const usage = `Usage: cm ps [--all] [--json]

List cm's containers: ID, project, bundle, status, PID (of the container's init, on the host),
when it started, and its command.

Status: running; starting; exited (a detached run that ended, with its exit status: its log is
kept until cm gc); gone (its cm was killed and the container ended: cm gc removes it); review
(with --all: a --review run that ended, its changes pending: cm diff, cm apply, cm discard).

Options:
  -a, --all    also list exited and gone containers
  --json       a JSON array of objects with the fields id, project, bundle, status, pid (null when
               not running), started and ended (ISO 8601, ended null unless exited), exitCode
               (null unless exited), oomKilled (true when killed for memory; null unless exited),
               command (array), detached (boolean), runtime (path), review (boolean: its changes
               are pending review)
  -h, --help   show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("ps", argv, { all: { type: "boolean", short: "a" }, json: { type: "boolean" } });
  if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("ps", [...p.positionals, ...p.rest]);
  const entries = ps(hostContext(), p.values.all === true);
  if (p.values.json === true) {
    process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    return 0;
  }
  process.stdout.write(table(entries));
  return 0;
}

function table(entries: PsEntry[]): string {
  const rows = [
    ["ID", "PROJECT", "BUNDLE", "STATUS", "PID", "STARTED", "COMMAND"],
    ...entries.map((e) => [
      e.id,
      e.project,
      e.bundle,
      e.status === "exited" ? `exited (${e.exitCode ?? "unknown"}${e.oomKilled ? ", out of memory" : ""})` : e.status,
      e.pid === null ? "-" : String(e.pid),
      e.started.replace("T", " ").replace(/\.\d+Z$/, "Z"),
      e.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(" "),
    ]),
  ];
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  const lines = rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  "));
  return `${lines.join("\n")}\n`;
}
