/**
 * Extracting a root filesystem tarball into a directory with GNU tar, which refuses members with
 * ".." and strips leading "/" by default. Device nodes are skipped when rootless (an ordinary user
 * cannot create them, and runc provides /dev).
 */
import { requireTool, runQuiet } from "../host/tools.ts";

export function extractTarball(file: string, target: string, opts: { rootless: boolean }): Promise<void> {
  const tar = requireTool("tar");
  const args = ["-x", "-f", file, "-C", target, "--exclude=./dev/*", "--exclude=dev/*", "--numeric-owner"];
  if (opts.rootless) args.push("--no-same-owner");
  return runQuiet(tar, args, `extracting ${file}`);
}
