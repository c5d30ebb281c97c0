/**
 * Reading the project file: `<project directory>/cm.toml`, optional. A missing file costs one failed
 * open: the TOML parser (smol-toml) and the validation are loaded only when the file exists, so
 * `cm run` in a project without one starts as fast as before. Validation and merging are pure
 * (core/projectfile.ts); merging into cm run's options is in ./rundefaults.ts.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProjectFile } from "../core/projectfile.ts";
import { CmError, isErrno } from "../errors.ts";
import type { RunOptions } from "./run.ts";

/** = core/projectfile PROJECT_FILE, not imported from there: that module loads only when the file exists */
const PROJECT_FILE = "cm.toml";

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
  const [{ parse, TomlError }, { checkProjectFile, syntaxError }] = await Promise.all([
    import("smol-toml"),
    import("../core/projectfile.ts"),
  ]);
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    if (err instanceof TomlError) throw syntaxError(path, err.message, err.line);
    throw err;
  }
  return checkProjectFile(doc, path, text, projectDir);
}

/** cm run's options with the project file's defaults (if there is a cm.toml) filled in under the flags. */
export async function withProjectFile(opts: RunOptions, projectDir: string): Promise<RunOptions> {
  const file = await loadProjectFile(projectDir);
  if (!file) return opts;
  const { withProjectDefaults } = await import("./rundefaults.ts");
  return withProjectDefaults(opts, file);
}
