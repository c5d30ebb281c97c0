/**
 * The entry point: picks the command, loads only its module, and turns the outcome into an exit
 * code. It is the only place that ends the process. A CmError is a user-facing failure (one line,
 * a hint, exit 125 unless it says otherwise); anything else is a bug in cm and says so.
 */
import { COMMANDS } from "./commands.ts";
import { CmError, EXIT_CM_ERROR } from "./errors.ts";

declare const CM_VERSION: string | undefined;
const version = typeof CM_VERSION === "string" ? CM_VERSION : "0.0.0-dev";

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
