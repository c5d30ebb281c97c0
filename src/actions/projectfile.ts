/**
 * Reading the project file: `<project directory>/cm.toml`, optional. A missing file costs one failed
 * open; the TOML parser (smol-toml) is loaded only when the file exists, so `cm run` in a project
 * without one starts as fast as before. Validation and merging are pure (core/projectfile.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkProjectFile, defaultsFor, PROJECT_FILE, type ProjectFile, syntaxError } from "../core/projectfile.ts";
import { CmError, isErrno } from "../errors.ts";
import type { RunOptions } from "./run.ts";

export async function loadProjectFile(projectDir: string): Promise<ProjectFile | undefined> {
  const path = join(projectDir, PROJECT_FILE);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    const reason = isErrno(err, "EISDIR") ? "is a directory" : (err as Error).message;
    throw new CmError("bad-project-file", `cannot read the project file ${path}: ${reason}`, {
      hint: "make it a readable TOML file, or remove it",
    });
  }
  const { parse, TomlError } = await import("smol-toml");
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    if (err instanceof TomlError) throw syntaxError(path, err.message, err.line);
    throw err;
  }
  return checkProjectFile(doc, path, text, projectDir);
}

/** cm run's options with the project file's defaults for the bundle filled in: flags win. */
export function withProjectDefaults(opts: RunOptions, file: ProjectFile | undefined): RunOptions {
  if (!file) return opts;
  const d = defaultsFor(file, opts.bundle).run;
  return {
    ...opts,
    memoryBytes: opts.memoryBytes ?? d.memoryBytes,
    command: opts.command.length > 0 ? opts.command : (d.command ?? []),
  };
}
