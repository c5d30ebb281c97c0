/**
 * `cm __layer DIR EPOCH` (internal): writes the tar of DIR to stdout, ids as this process sees them,
 * times clamped to EPOCH. cm export runs it as root of a user namespace with a rootless bundle's
 * own subordinate-range mapping (`unshare --map-users`): there, files owned by the range are
 * readable and carry the ids they have inside the container. Not for users.
 */
import { defineCommand } from "../core/command.ts";
import { CmError } from "../errors.ts";

export const command = defineCommand({
  name: "__layer",
  positionals: [{ name: "DIR" }, { name: "EPOCH" }],
  description: "Internal: the tar of a bundle's rootfs, for cm export.",
  options: {},
});

export async function main(argv: string[]): Promise<number> {
  const [dir, epochText] = argv;
  if (!dir?.startsWith("/") || !epochText || !/^[0-9]{1,12}$/.test(epochText) || argv.length !== 2) {
    throw new CmError("usage", "__layer: expects an absolute DIR and an EPOCH", { hint: "this is cm export's internal helper" });
  }
  const { writeTreeTar } = await import("../actions/layer.ts");
  await writeTreeTar(dir, Number(epochText), process.stdout);
  return 0;
}
