/**
 * Reading the project file: `<project directory>/cm.toml`, optional. A missing file costs one failed
 * open: the TOML parser (smol-toml) and the validation are loaded only when the file exists, so
 * `cm run` in a project without one starts as fast as before. Validation and merging are pure
 * (core/projectfile.ts); merging into cm run's options is in ./rundefaults.ts.
 */
import { join } from "node:path";
import type { ProjectFile } from "../core/projectfile.ts";
import type { RunOptions } from "../core/run/options.ts";
import { CmError, isErrno } from "../errors.ts";
import { NotSmallRegularFile, readSmallFile } from "../host/fs.ts";

/** = core/projectfile PROJECT_FILE, not imported from there: that module loads only when the file exists */
const PROJECT_FILE = "cm.toml";
/** A cm.toml larger than this is refused (the longest real ones are a few KiB). */
const MAX_PROJECT_FILE_BYTES = 1 << 20;

export async function loadProjectFile(projectDir: string): Promise<ProjectFile | undefined> {
  const path = join(projectDir, PROJECT_FILE);
  let text: string;
  try {
    // The container can write the project: cm.toml may be a FIFO, a device or a link to a host file.
    text = readSmallFile(path, MAX_PROJECT_FILE_BYTES);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return undefined;
    const reason =
      err instanceof NotSmallRegularFile
        ? `it is ${err.reason === "too large" ? "larger than 1 MiB" : err.reason}`
        : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
    throw new CmError("bad-project-file", `cannot read the project file ${path}: ${reason}`, {
      hint: "replace it with a regular TOML file, not a link, FIFO or device, or remove it",
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

/**
 * cm run's options with the project file's defaults (if there is a cm.toml) filled in under the
 * flags. A resource limit that comes from the file and that this host cannot enforce is refused
 * here, naming the file, line and key (the flag's own check would name a flag that was not given).
 */
export async function withProjectFile(opts: RunOptions, projectDir: string, rootless: boolean): Promise<RunOptions> {
  const file = await loadProjectFile(projectDir);
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
        checkLimitEnforceable(limit, true, readCgroupFacts());
      } catch (err) {
        const e = err as CmError;
        throw keyError(file, originOf(file, opts.bundle, "run", key), e.message.replace(/^--[a-z-]+ /, "this limit "), e.hint);
      }
    }
  }
  return merged;
}
