/**
 * `cm __layer DIR EPOCH` (internal): writes the tar of DIR to stdout, ids as this process sees them,
 * times clamped to EPOCH. cm export runs it as root of a user namespace with a rootless bundle's
 * own subordinate-range mapping (`unshare --map-users`): there, files owned by the range are
 * readable and carry the ids they have inside the container. Not for users.
 */
import { CmError } from "../errors.ts";

export const usage = "Usage: cm __layer DIR EPOCH (internal: the tar of a bundle's rootfs, for cm export)\n";

export async function main(argv: string[]): Promise<number> {
  const [dir, epochText] = argv;
  if (!dir?.startsWith("/") || !epochText || !/^[0-9]{1,12}$/.test(epochText) || argv.length !== 2) {
    throw new CmError("usage", "__layer: expects an absolute DIR and an EPOCH", { hint: "this is cm export's internal helper" });
  }
  const [{ tarChunks }, { Readable }, { pipeline }] = await Promise.all([
    import("../image/layer.ts"),
    import("node:stream"),
    import("node:stream/promises"),
  ]);
  const counts = { entries: 0 };
  const same = (id: number) => id;
  await pipeline(
    Readable.from(tarChunks([{ dir, at: "", uid: same, gid: same }], Number(epochText), counts), { objectMode: false }),
    process.stdout,
  );
  return 0;
}
