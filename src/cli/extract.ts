/**
 * Internal: `cm __extract TARGET OPTIONS` extracts the tar stream on stdin into TARGET, keeping
 * owners, as root of a range user namespace (started by rootfs/userns.ts through `unshare`). Not
 * listed in cm --help. The result (or a CmError) is one JSON line on stdout; progress lines
 * ("progress BYTES ENTRIES") go to stderr.
 */
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { extractHere } from "../actions/extract.ts";
import { defineCommand } from "../core/command.ts";
import type { ExtractRequest } from "../core/userns.ts";
import { CmError } from "../errors.ts";

export const command = defineCommand({
  name: "__extract",
  positionals: [{ name: "TARGET" }, { name: "OPTIONS-JSON" }],
  description: "Internal: extracts the tar stream on stdin into TARGET as root of a user namespace (started by cm create).",
  options: {},
});

export async function main(argv: string[]): Promise<number> {
  const [target, json] = argv;
  if (argv.length !== 2 || !target || !json || !isAbsolute(target)) {
    throw new CmError("usage", "__extract: expects TARGET (absolute) and OPTIONS (started by cm create)");
  }
  // Only as root of a user namespace other than the host's (whose uid_map maps everything).
  const uidMap = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
  if (process.getuid?.() !== 0 || (uidMap[0] === "0" && uidMap[1] === "0" && uidMap[2] === "4294967295")) {
    throw new CmError("usage", "__extract runs only as root of a user namespace (started by cm create)");
  }
  const req = JSON.parse(json) as ExtractRequest;
  // Found by `cm gc` (processes working in a dead create's directory), and gone with the cm that started it.
  process.chdir(target);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 200).unref();
  return extractHere(target, req);
}
