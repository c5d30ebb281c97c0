/**
 * Mount points from /proc/self/mountinfo. A bind mount of a directory of the same filesystem has
 * the same st_dev as its parent, so a device comparison alone cannot see it: the mount table can.
 */
import { readFileSync } from "node:fs";

/** Undoes mountinfo's octal escapes ("\040" for a space, "\011", "\012", "\134"). */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** The mount points listed in a mountinfo text (field 5). */
export function parseMountPoints(mountinfo: string): string[] {
  const out: string[] = [];
  for (const line of mountinfo.split("\n")) {
    const fields = line.split(" ");
    if (fields.length < 5) continue;
    out.push(unescapeOctal(fields[4] as string));
  }
  return out;
}

/** Mount points at or below `dir` (an absolute, symlink-free path). */
export function mountsUnder(dir: string, mountPoints: string[]): string[] {
  const prefix = dir.endsWith("/") ? dir : `${dir}/`;
  return mountPoints.filter((m) => m === dir || m.startsWith(prefix));
}

export function readMountPoints(): string[] {
  try {
    return parseMountPoints(readFileSync("/proc/self/mountinfo", "utf8"));
  } catch {
    return [];
  }
}
