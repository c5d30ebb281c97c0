/** Copying a root filesystem tree: `cp -a`, which keeps modes, links, times and (as root) owners. */
import { requireTool, runQuiet } from "../host/tools.ts";

export function copyTree(from: string, to: string): Promise<void> {
  const cp = requireTool("cp");
  const args = ["-a", "--reflink=auto"];
  if (process.getuid?.() !== 0) args.push("--no-preserve=ownership");
  return runQuiet(cp, [...args, "--", `${from}/.`, `${to}/`], `copying ${from}`);
}
