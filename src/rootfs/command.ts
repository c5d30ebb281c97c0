/**
 * Does a command exist inside the container? Answered from the host before runc starts, so that a
 * missing command exits 127 and a non-executable one 126, as a shell would (runc itself exits 1
 * for both). Paths are resolved as the container sees them: bind mounts first, then the rootfs
 * with symlinks kept inside it.
 */
import { statSync } from "node:fs";
import { posix } from "node:path";
import { isWithin } from "../core/path.ts";
import { resolveInRoot } from "../host/fs.ts";

export interface Lookup {
  cwd: string;
  path: string;
  mounts: { destination: string; source: string }[];
}

export type Found = "found" | "not-found" | "not-executable";

/** Host path for a container path: through the longest matching bind mount, else in the rootfs. */
function hostPath(rootfs: string, containerPath: string, mounts: Lookup["mounts"]): string {
  const p = posix.normalize(containerPath);
  let best: { destination: string; source: string } | undefined;
  for (const m of mounts) {
    if (isWithin(p, m.destination) && (!best || m.destination.length > best.destination.length)) best = m;
  }
  if (best) return best.source + p.slice(best.destination.length);
  return resolveInRoot(rootfs, p);
}

function probe(host: string): Found {
  try {
    const st = statSync(host);
    if (st.isFile() && (st.mode & 0o111) !== 0) return "found";
    return "not-executable";
  } catch {
    return "not-found";
  }
}

export function findCommand(rootfs: string, command: string, lookup: Lookup): Found {
  if (command === "") return "not-found";
  if (command.includes("/")) {
    const abs = command.startsWith("/") ? command : posix.join(lookup.cwd, command);
    return probe(hostPath(rootfs, abs, lookup.mounts));
  }
  let sawNonExecutable = false;
  for (const dir of lookup.path.split(":")) {
    if (!dir.startsWith("/")) continue;
    const r = probe(hostPath(rootfs, posix.join(dir, command), lookup.mounts));
    if (r === "found") return r;
    if (r === "not-executable") sawNonExecutable = true;
  }
  return sawNonExecutable ? "not-executable" : "not-found";
}
