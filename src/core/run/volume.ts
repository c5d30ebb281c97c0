/**
 * `-v SRC:DST[:OPTS]` -> a typed bind mount. Pure: SRC is checked and made real by the action.
 *
 *   - exactly one ':' between SRC and DST, one more before the options; SRC non-empty (a relative
 *     SRC is relative to the current directory);
 *   - DST absolute, normalised (no '.', '..', '//', trailing '/'); not '/', not /proc, /sys or /dev
 *     or below them (runc's own mounts);
 *   - /project and paths below it are refused: a mount below /project would create an empty
 *     mount point in the project directory on the host and hide what is there. The one exception is
 *     the project directory itself on /project (`-v .:/project:ro`), which changes only its mode;
 *     the action checks the source is the project directory;
 *   - OPTS: `ro` or `rw`, once.
 */
import { posix } from "node:path";
import { CmError } from "../../errors.ts";
import { isWithin } from "../path.ts";

export interface VolumeSpec {
  source: string;
  destination: string;
  readOnly: boolean;
}

const RESERVED = ["/proc", "/sys", "/dev"];

function bad(
  spec: string,
  why: string,
  hint = "give -v SRC:DST or -v SRC:DST:ro, with DST an absolute path inside the container",
): CmError {
  return new CmError("bad-volume", `invalid volume ${JSON.stringify(spec)}: ${why}`, { hint });
}

export function parseVolume(spec: string): VolumeSpec {
  if (spec.includes("\0")) throw bad(spec, "it contains a NUL byte");
  const parts = spec.split(":");
  if (parts.length < 2 || parts.length > 3) throw bad(spec, parts.length < 2 ? "no ':' between SRC and DST" : "too many ':'");
  const [source, dest, opts] = parts as [string, string, string | undefined];
  if (source === "") throw bad(spec, "SRC is empty");
  if (!dest.startsWith("/")) throw bad(spec, `DST ${JSON.stringify(dest)} is not an absolute path`);
  const destination = posix.normalize(dest).replace(/\/+$/, "") || "/";
  if (dest.split("/").some((p) => p === "." || p === "..")) throw bad(spec, `DST ${JSON.stringify(dest)} contains '.' or '..'`);
  if (destination === "/") throw bad(spec, "DST / would hide the container's root filesystem");
  for (const r of RESERVED) {
    if (isWithin(destination, r)) throw bad(spec, `DST ${destination} is managed by the runtime`);
  }
  if (destination.startsWith("/project/")) {
    throw bad(
      spec,
      `DST ${destination} is inside /project, the project directory`,
      "mount elsewhere (for example /data); files below /project are the project's own",
    );
  }
  let readOnly = false;
  if (opts !== undefined) {
    if (opts === "ro") readOnly = true;
    else if (opts !== "rw")
      throw bad(spec, `unknown option ${JSON.stringify(opts)}`, "the options are ro (read-only) or rw (read-write, the default)");
  }
  return { source, destination, readOnly };
}

/** Two volumes on one destination: the second would hide the first. */
export function checkDistinct(volumes: readonly VolumeSpec[]): void {
  const seen = new Set<string>();
  for (const v of volumes) {
    if (seen.has(v.destination)) {
      throw new CmError("bad-volume", `two volumes on ${v.destination}`, { hint: "give each -v its own destination" });
    }
    seen.add(v.destination);
  }
}
