/**
 * The command list: names, one-line summaries (cm --help, completion menus, the man page) and a
 * lazy loader per command, so `cm run` loads only `cli/run.ts` and what it imports. Each command's flags,
 * positionals and help live in its own `cli/<command>.ts` as a `CommandSpec` (`core/command.ts`).
 *
 * To add a command: write `cli/<name>.ts` exporting `command` (`defineCommand({...})`) and
 * `main(argv)`, and add one line below; help, completion, the man page (scripts/man.ts) and the
 * parser follow from the spec.
 */
import type { CommandSpec } from "./core/command.ts";

export interface CommandModule {
  command: CommandSpec;
  /** `commands` is this list (cm completion reads every command's spec from it) */
  main(argv: string[], commands: Record<string, CommandEntry>): Promise<number>;
}

export interface CommandEntry {
  summary: string;
  /** not listed in help or completion (internal helpers: the detached-run monitor, completion's names) */
  hidden?: boolean;
  load: () => Promise<CommandModule>;
}

export const COMMANDS: Record<string, CommandEntry> = {
  create: { summary: "make a bundle (root filesystem + config.json) for this project", load: () => import("./cli/create.ts") },
  run: { summary: "run a command (default: a login shell) in a container of this project", load: () => import("./cli/run.ts") },
  list: { summary: "list projects and bundles", load: () => import("./cli/list.ts") },
  delete: { summary: "stop a project's containers and remove its bundles", load: () => import("./cli/delete.ts") },
  ps: { summary: "list cm's containers", load: () => import("./cli/ps.ts") },
  exec: { summary: "run a command in a running container", load: () => import("./cli/exec.ts") },
  stop: { summary: "stop a container (SIGTERM, then SIGKILL)", load: () => import("./cli/stop.ts") },
  logs: { summary: "show the output of a detached container", load: () => import("./cli/logs.ts") },
  diff: { summary: "show what a --review run changed in /project", load: async () => (await import("./cli/review.ts")).diffCommand },
  apply: { summary: "write a --review run's changes into the project", load: async () => (await import("./cli/review.ts")).applyCommand },
  discard: { summary: "drop a --review run's changes", load: async () => (await import("./cli/review.ts")).discardCommand },
  gc: { summary: "remove what killed or crashed runs left behind", load: () => import("./cli/gc.ts") },
  trust: { summary: "approve this project's cm.toml (cm uses it only once approved)", load: () => import("./cli/trust.ts") },
  completion: { summary: "print a shell completion script (bash, zsh, fish)", load: () => import("./cli/completion.ts") },
  __monitor: { summary: "internal: the monitor of a detached run", hidden: true, load: () => import("./cli/monitor.ts") },
  __layer: {
    summary: "internal: the tar of a rootfs in its user namespace (cm export)",
    hidden: true,
    load: () => import("./cli/layer.ts"),
  },
  __extract: { summary: "internal: extraction in a user namespace", hidden: true, load: () => import("./cli/extract.ts") },
  __complete: { summary: "names for the completion scripts", hidden: true, load: () => import("./cli/complete.ts") },
  doctor: { summary: "check this host for cm: runc and its CVEs, namespaces, cgroups, tools, disk", load: () => import("./cli/doctor.ts") },
  export: {
    summary: "write a bundle as an OCI image (OCI layout, docker-archive, registry) or a Kubernetes Pod",
    load: () => import("./cli/export.ts"),
  },
  cache: { summary: "list or prune cm's cache (Debian bases, image blobs)", load: () => import("./cli/cache.ts") },
};

/** The commands `cm --help` and completion list, in table order. */
export function visibleCommands(): [string, CommandEntry][] {
  return Object.entries(COMMANDS).filter(([, c]) => !c.hidden);
}
