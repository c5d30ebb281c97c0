/**
 * The command list: names, one-line summaries (cm --help, completion menus) and a lazy loader per
 * command, so `cm run` loads only `cli/run.ts` and what it imports. Each command's flags,
 * positionals and help live in its own `cli/<command>.ts` as a `CommandSpec` (`core/command.ts`).
 *
 * To add a command: write `cli/<name>.ts` exporting `command` (`defineCommand({...})`) and
 * `main(argv)`, and add one line below; help, completion and the parser follow from the spec.
 */
import type { CommandSpec } from "../core/command.ts";

export interface CommandModule {
  command: CommandSpec;
  main(argv: string[]): Promise<number>;
}

export interface CommandEntry {
  summary: string;
  /** not listed in help or completion (internal helpers: the detached-run monitor, completion's names) */
  hidden?: boolean;
  load: () => Promise<CommandModule>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  create: { summary: "make a bundle (root filesystem + config.json) for this project", load: () => import("./create.ts") },
  run: { summary: "run a command (default: a login shell) in a container of this project", load: () => import("./run.ts") },
  list: { summary: "list projects and bundles", load: () => import("./list.ts") },
  delete: { summary: "stop a project's containers and remove its bundles", load: () => import("./delete.ts") },
  ps: { summary: "list cm's containers", load: () => import("./ps.ts") },
  exec: { summary: "run a command in a running container", load: () => import("./exec.ts") },
  stop: { summary: "stop a container (SIGTERM, then SIGKILL)", load: () => import("./stop.ts") },
  logs: { summary: "show the output of a detached container", load: () => import("./logs.ts") },
  diff: { summary: "show what a --review run changed in /project", load: async () => (await import("./review.ts")).diffCommand },
  apply: { summary: "write a --review run's changes into the project", load: async () => (await import("./review.ts")).applyCommand },
  discard: { summary: "drop a --review run's changes", load: async () => (await import("./review.ts")).discardCommand },
  gc: { summary: "remove what killed or crashed runs left behind", load: () => import("./gc.ts") },
  completion: { summary: "print a shell completion script (bash, zsh, fish)", load: () => import("./completion.ts") },
  __monitor: { summary: "internal: the monitor of a detached run", hidden: true, load: () => import("./monitor.ts") },
  __complete: { summary: "names for the completion scripts", hidden: true, load: () => import("./complete.ts") },
  doctor: { summary: "check this host for cm: runc and its CVEs, namespaces, cgroups, tools, disk", load: () => import("./doctor.ts") },
  cache: { summary: "list or prune cm's cache (Debian bases, image blobs)", load: () => import("./cache.ts") },
};

/** The commands `cm --help` and completion list, in table order. */
export function visibleCommands(): [string, CommandEntry][] {
  return Object.entries(COMMANDS).filter(([, c]) => !c.hidden);
}
