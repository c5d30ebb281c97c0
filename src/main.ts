/**
 * The entry point: picks the command (commands.ts), loads only its module, and turns the
 * outcome into the exit code (cm never calls process.exit; an interrupted create re-raises its
 * signal). A CmError is a user-facing failure (one line, a hint, exit 125 unless it says
 * otherwise); anything else is a bug in cm and says so.
 */
import { COMMANDS, visibleCommands } from "./commands.ts";
import { formatHelp } from "./core/command.ts";
import { escapeControls } from "./core/names.ts";
import { CmError, EXIT_CM_ERROR } from "./errors.ts";
import { refuseUndecodable } from "./host/decoding.ts";

declare const CM_VERSION: string | undefined;
const version = typeof CM_VERSION === "string" ? CM_VERSION : "0.0.0-dev";

function help(): string {
  const shown = visibleCommands();
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
  refuseUndecodable(argv);
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command)
    throw new CmError("usage", `unknown command ${JSON.stringify(name)}`, {
      hint: `commands: ${visibleCommands()
        .map(([c]) => c)
        .join(", ")}`,
    });
  const mod = await command.load();
  if (rest.includes("-h") || rest.includes("--help")) {
    const dash = rest.indexOf("--");
    const helpAt = Math.max(rest.indexOf("-h"), rest.indexOf("--help"));
    if (dash < 0 || helpAt < dash) {
      process.stdout.write(formatHelp(mod.command));
      return 0;
    }
  }
  return mod.main(rest, COMMANDS);
}

/** Errno codes that describe the user's situation (a full disk, a permission), not a bug in cm: reason, what to do. */
const SITUATIONS: Record<string, [string, string]> = {
  EACCES: ["permission denied", "check the owner and mode of that path, or point cm elsewhere (CM_HOME, CM_STATE_DIR, CM_CACHE_DIR)"],
  EPERM: ["operation not permitted", "check the owner and mode of that path"],
  ENOSPC: ["no space left on the device", "free space on that filesystem, or point cm elsewhere (CM_HOME, CM_STATE_DIR, CM_CACHE_DIR)"],
  EDQUOT: ["disk quota exceeded", "free space within your quota, or point cm elsewhere (CM_HOME, CM_STATE_DIR, CM_CACHE_DIR)"],
  EROFS: ["read-only filesystem", "point cm at a writable directory (CM_HOME, CM_STATE_DIR, CM_CACHE_DIR)"],
  ENOTDIR: ["a part of the path is not a directory", "fix the path (a file stands where a directory should be)"],
  EIO: ["input/output error", "check the disk (dmesg)"],
  EMFILE: ["too many open files", "raise the open file limit (ulimit -n)"],
};

/** One line for an errno error: what failed on which path, and what to do. */
function situation(e: NodeJS.ErrnoException): string | undefined {
  const known = e.code ? SITUATIONS[e.code] : undefined;
  if (!known) return undefined;
  const where = e.path ? `${escapeControls(String(e.path))}: ` : "";
  const op = e.syscall ? ` (${e.syscall})` : "";
  return `cm: ${where}${known[0]}${op} (${known[1]})\n`;
}

function report(err: unknown): number {
  if (err instanceof CmError) {
    // one line, whatever a path or a name in it holds (a directory named with an escape sequence)
    process.stderr.write(`cm: ${escapeControls(err.message)}${err.hint ? ` (${escapeControls(err.hint)})` : ""}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  const line = e ? situation(e) : undefined;
  if (line) {
    process.stderr.write(line);
    return EXIT_CM_ERROR;
  }
  const text = e?.stack ?? String(err);
  process.stderr.write(`cm: internal error (a bug in cm, please report it): ${text.split("\n").map(escapeControls).join("\n")}\n`);
  return EXIT_CM_ERROR;
}

/**
 * cm's own output failing is an error (`cm list > /dev/full`): one line and exit 125, not a stack
 * trace and not a silent 0. A closed pipe (`cm ps | head -1`) is the reader's choice: no message.
 */
let outputError: NodeJS.ErrnoException | undefined;
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  outputError ??= err;
});
process.on("exit", () => {
  if (!outputError || outputError.code === "EPIPE") return;
  const known = outputError.code ? SITUATIONS[outputError.code] : undefined;
  process.stderr.write(
    `cm: cannot write to standard output: ${known?.[0] ?? outputError.code ?? outputError.message} (check where the output goes)\n`,
  );
  process.exitCode = EXIT_CM_ERROR;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = report(err);
  },
);
