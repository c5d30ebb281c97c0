/**
 * Reading the project file: `<project directory>/cm.toml`, optional. A missing file costs one failed
 * open: the TOML parser (smol-toml) and the validation are loaded only when the file exists, so
 * `cm run` in a project without one starts as fast as before. Validation and merging are pure
 * (core/projectfile.ts); merging into cm run's options is in ./rundefaults.ts.
 */
import { readSync } from "node:fs";
import { join } from "node:path";
import { isatty } from "node:tty";
import { escapeControls } from "../core/names.ts";
import type { ProjectFile } from "../core/projectfile.ts";
import type { RunOptions } from "../core/run/options.ts";
import { CmError, isErrno } from "../errors.ts";
import { NotSmallRegularFile, readSmallFile } from "../host/fs.ts";
import type { Context } from "./context.ts";

/** = core/projectfile PROJECT_FILE, not imported from there: that module loads only when the file exists */
const PROJECT_FILE = "cm.toml";
/** A cm.toml larger than this is refused (the longest real ones are a few KiB). */
const MAX_PROJECT_FILE_BYTES = 1 << 20;

/** The project file as read once: its real path and its bytes (what is hashed is what is parsed). */
export interface ProjectFileText {
  path: string;
  text: string;
}

/**
 * Reads `<projectDir>/cm.toml` once, without following a symlink (a container could point it at
 * any file of the user's); undefined when there is none. `projectDir` is a real path.
 */
export function readProjectFileText(projectDir: string): ProjectFileText | undefined {
  const path = join(projectDir, PROJECT_FILE);
  try {
    // The container can write the project: cm.toml may be a FIFO, a device, a huge file or a link to a host file.
    return { path, text: readSmallFile(path, MAX_PROJECT_FILE_BYTES) };
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    const [reason, hint] =
      err instanceof NotSmallRegularFile
        ? err.reason === "too large"
          ? ["it is larger than 1 MiB", "a project file is a few settings: remove what does not belong there, or the file"]
          : err.reason === "not valid UTF-8"
            ? ["it is not valid UTF-8 (TOML files are)", "save it as UTF-8, or remove it"]
            : err.reason === "a symbolic link"
              ? ["it is a symbolic link (cm reads only a regular file there)", "replace it with a regular TOML file, or remove it"]
              : ["it is not a regular file", "replace it with a regular TOML file, not a FIFO or device, or remove it"]
        : [(err as NodeJS.ErrnoException).code ?? (err as Error).message, "make it readable, or remove it"];
    throw new CmError("bad-project-file", `cannot read the project file ${path}: ${reason}`, { hint });
  }
}

/** Parses and validates project file text (syntax and keys; nothing is approved here). */
export async function parseProjectFile(file: ProjectFileText, projectDir: string): Promise<ProjectFile> {
  const [{ parse, TomlError }, { checkProjectFile, syntaxError }] = await Promise.all([
    import("smol-toml"),
    import("../core/projectfile.ts"),
  ]);
  let doc: unknown;
  try {
    doc = parse(file.text);
  } catch (err) {
    if (err instanceof TomlError) throw syntaxError(file.path, err.message, err.line);
    throw err;
  }
  return checkProjectFile(doc, file.path, file.text, projectDir);
}

/**
 * The project's cm.toml, validated, once it is approved (store/trust.ts); undefined when there is
 * none. This is the one place cm reads a project file: create, run and post_create all come here.
 * A new or changed file: an interactive cm (stdin and stderr terminals) shows it and asks; otherwise
 * it is refused (exit 125) with the command that approves it.
 */
export async function loadProjectFile(ctx: Context, projectDir: string): Promise<ProjectFile | undefined> {
  const file = readProjectFileText(projectDir);
  if (!file) return undefined;
  // Parsing and validating are pure: an invalid file is reported as such, approved or not.
  const parsed = await parseProjectFile(file, projectDir);
  const { trustState, approve, lineDiff } = await import("../store/trust.ts");
  const place = { config: ctx.layout.config, uid: ctx.uid, env: process.env };
  const state = await trustState(place, file.path, file.text);
  if (state.state === "new" || state.state === "changed") {
    const why = state.state === "new" ? "is not trusted yet" : "changed since you trusted it";
    if (!canAsk()) {
      throw new CmError("untrusted-project-file", `${file.path} ${why}: cm does not use it until you approve it`, {
        hint: `review it (cm trust --show), then run cm trust in ${projectDir}`,
      });
    }
    askToTrust(file, state.state === "changed" ? state.record.text : undefined, lineDiff, "trust it and use it?", projectDir);
    await approve(place, file.path, file.text);
  }
  return parsed;
}

/** A new project file for a terminal: each line "+ " and with its control characters escaped (escapeControls). */
export function newFileLines(text: string): string[] {
  return text
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => `+ ${escapeControls(l)}`);
}

/** Whether cm may ask: stdin and stderr are terminals. */
export function canAsk(): boolean {
  return isatty(0) && isatty(2);
}

/**
 * Shows a new (`approved` undefined) or changed project file on stderr, as a whole or as a diff
 * against the approved text, and asks `question` on the terminal; returns when the answer is yes
 * (y, yes), else throws (exit 125). What is approved afterwards must be `file.text`, the content
 * shown: the file on disk may have changed meanwhile (a running container can write it).
 */
export function askToTrust(
  file: { path: string; text: string },
  approved: string | undefined,
  lineDiff: (before: string, after: string) => string[],
  question: string,
  projectDir: string,
): void {
  const why = approved === undefined ? "is not trusted yet" : "changed since you trusted it (- approved, + now)";
  const shown = approved === undefined ? newFileLines(file.text) : lineDiff(approved, file.text);
  process.stderr.write(`cm: ${escapeControls(file.path)} ${why}:\n${shown.join("\n")}\n`);
  process.stderr.write(`cm: ${question} [y/N] `);
  if (!/^y(es)?$/i.test(readAnswer().trim())) {
    throw new CmError("untrusted-project-file", `${file.path} was not approved`, {
      hint: `run cm trust in ${projectDir} once you trust it`,
    });
  }
}

/** One line from the terminal on stdin (synchronously: nothing else runs yet). */
function readAnswer(): string {
  const buf = Buffer.alloc(256);
  let out = "";
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (err) {
      if (isErrno(err, "EAGAIN")) continue;
      return out;
    }
    if (n === 0) return out;
    out += buf.subarray(0, n).toString("utf8");
    if (out.includes("\n")) return out.slice(0, out.indexOf("\n"));
  }
}

/**
 * cm run's options with the project file's defaults (if there is a cm.toml) filled in under the
 * flags. A resource limit that comes from the file and that this host cannot enforce is refused
 * here, naming the file, line and key (the flag's own check would name a flag that was not given).
 */
export async function withProjectFile(ctx: Context, opts: RunOptions, projectDir: string): Promise<RunOptions> {
  const rootless = ctx.rootless;
  const file = await loadProjectFile(ctx, projectDir);
  if (!file) return opts;
  const [{ withProjectDefaults }, { keyError, originOf }] = await Promise.all([
    import("./rundefaults.ts"),
    import("../core/projectfile.ts"),
  ]);
  const merged = withProjectDefaults(opts, file);
  if (rootless) {
    const [{ checkLimitEnforceable }, { readCgroupFacts }] = await Promise.all([import("../core/limits.ts"), import("../host/cgroups.ts")]);
    const limits = [
      ["memory", "memoryBytes", "memory"],
      ["cpu", "cpus", "cpus"],
      ["pids", "pidsLimit", "pids_limit"],
    ] as const;
    for (const [limit, option, key] of limits) {
      if (opts[option] !== undefined || merged[option] === undefined) continue;
      try {
        checkLimitEnforceable(limit, true, readCgroupFacts(), "this limit");
      } catch (err) {
        if (!(err instanceof CmError)) throw err;
        throw keyError(file, originOf(file, opts.bundle, "run", key), err.message, err.hint);
      }
    }
  }
  return merged;
}
