/**
 * The entry point: picks the command, loads only its module, and turns the outcome into an exit
 * code. It is the only place that ends the process. A CmError is a user-facing failure (one line,
 * a hint, exit 125 unless it says otherwise); anything else is a bug in cm and says so.
 */
import { CmError, EXIT_CM_ERROR } from "./errors.ts";

declare const CM_VERSION: string | undefined;
const version = typeof CM_VERSION === "string" ? CM_VERSION : "0.0.0-dev";

interface CommandModule {
  usage: string;
  /** `commands` is the table below (cm completion reads every command's --help from it) */
  main(argv: string[], commands: Commands): Promise<number>;
}

/** hidden: not listed in help (internal helpers: the detached-run monitor, completion's names) */
export type Commands = Record<string, { summary: string; hidden?: boolean; load: () => Promise<CommandModule> }>;

const COMMANDS: Commands = {
  create: { summary: "make a bundle (root filesystem + config.json) for this project", load: () => import("./cli/create.ts") },
  run: { summary: "run a command (default: a login shell) in a container of this project", load: () => import("./cli/run.ts") },
  list: { summary: "list projects and bundles", load: () => import("./cli/list.ts") },
  delete: { summary: "stop a project's containers and remove its bundles", load: () => import("./cli/delete.ts") },
  ps: { summary: "list cm's containers", load: () => import("./cli/ps.ts") },
  exec: { summary: "run a command in a running container", load: () => import("./cli/exec.ts") },
  stop: { summary: "stop a container (SIGTERM, then SIGKILL)", load: () => import("./cli/stop.ts") },
  logs: { summary: "show the output of a detached container", load: () => import("./cli/logs.ts") },
  gc: { summary: "remove what killed or crashed runs left behind", load: () => import("./cli/gc.ts") },
  completion: { summary: "print a shell completion script (bash, zsh, fish)", load: () => import("./cli/completion.ts") },
  __monitor: { summary: "internal: the monitor of a detached run", hidden: true, load: () => import("./cli/monitor.ts") },
  __complete: { summary: "names for the completion scripts", hidden: true, load: () => import("./cli/complete.ts") },
  __extract: { summary: "internal: extraction in a user namespace", hidden: true, load: () => import("./cli/extract.ts") },
  doctor: { summary: "check this host for cm: runc and its CVEs, namespaces, cgroups, tools, disk", load: () => import("./cli/doctor.ts") },
  cache: { summary: "list or prune cm's cache (Debian bases, image blobs)", load: () => import("./cli/cache.ts") },
};

function help(): string {
  const shown = Object.entries(COMMANDS).filter(([, c]) => !c.hidden);
  const width = Math.max(...shown.map(([c]) => c.length));
  const lines = shown.map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: cm COMMAND [ARGS...]

cm runs per-project containers on runc: a plain Debian root filesystem, the current directory
mounted at /project, rootless by default.

Commands:
${lines.join("\n")}

Run 'cm COMMAND --help' for a command's options. cm --version prints the version.
`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "-h" || name === "--help" || name === "help") {
    process.stdout.write(help());
    return name === undefined ? EXIT_CM_ERROR : 0;
  }
  if (name === "-v" || name === "--version" || name === "version") {
    process.stdout.write(`cm ${version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command)
    throw new CmError("usage", `unknown command ${JSON.stringify(name)}`, {
      hint: `commands: ${Object.keys(COMMANDS)
        .filter((c) => !COMMANDS[c]?.hidden)
        .join(", ")}`,
    });
  const mod = await command.load();
  if (rest.includes("-h") || rest.includes("--help")) {
    const dash = rest.indexOf("--");
    const helpAt = Math.max(rest.indexOf("-h"), rest.indexOf("--help"));
    if (dash < 0 || helpAt < dash) {
      process.stdout.write(mod.usage);
      return 0;
    }
  }
  return mod.main(rest, COMMANDS);
}

function report(err: unknown): number {
  if (err instanceof CmError) {
    process.stderr.write(`cm: ${err.message}${err.hint ? ` (${err.hint})` : ""}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && (e.code === "EACCES" || e.code === "EPERM" || e.code === "ENOSPC" || e.code === "EROFS" || e.code === "EDQUOT")) {
    process.stderr.write(`cm: ${e.message}\n`);
    return EXIT_CM_ERROR;
  }
  process.stderr.write(`cm: internal error (a bug in cm, please report it): ${e?.stack ?? String(err)}\n`);
  return EXIT_CM_ERROR;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
