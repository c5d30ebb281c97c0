/**
 * Host probes for `cm doctor`: pure parsers over the text of files and tool output (testable with
 * fixtures), and thin readers that take the filesystem root as a parameter.
 */
import { readFileSync } from "node:fs";

export interface RuncVersion {
  /** upstream version as printed ("1.1.5+ds1") */
  version: string;
  /** the commit line; Debian's builds put the package version there ("1.1.5+ds1-1+deb12u1") */
  commit: string | undefined;
  spec: string | undefined;
  libseccomp: string | undefined;
}

/** Parses `runc --version`. */
export function parseRuncVersion(text: string): RuncVersion | undefined {
  const field = (name: string) => new RegExp(`^${name}:?\\s+(\\S+)`, "im").exec(text)?.[1];
  const version = /^runc version\s+(\S+)/im.exec(text)?.[1];
  if (!version) return undefined;
  return { version, commit: field("commit"), spec: field("spec"), libseccomp: field("libseccomp") };
}

/** A Debian package version in runc's commit line (Debian builds: "1.1.5+ds1-1+deb12u1"), if it is one. */
export function debianVersionFromCommit(commit: string | undefined): string | undefined {
  if (!commit) return undefined;
  return /^(\d+:)?\d[0-9A-Za-z.+~]*-[0-9A-Za-z.+~]+$/.test(commit) && /(\+ds|deb\d|ubuntu)/.test(commit) ? commit : undefined;
}

export interface SubidRange {
  start: number;
  count: number;
}

/** The ranges of /etc/subuid or /etc/subgid that belong to `user` (by name or by numeric id). */
export function parseSubid(text: string, user: string, id: number): SubidRange[] {
  const out: SubidRange[] = [];
  for (const line of text.split("\n")) {
    const [who, start, count] = line.trim().split(":");
    if (who === undefined || start === undefined || count === undefined) continue;
    if (who !== user && who !== String(id)) continue;
    const s = Number(start);
    const c = Number(count);
    if (Number.isSafeInteger(s) && Number.isSafeInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

export interface UsernsFacts {
  /** /proc/sys/user/max_user_namespaces */
  max: number | undefined;
  /** /proc/sys/kernel/unprivileged_userns_clone (Debian kernels; absent elsewhere) */
  unprivilegedClone: number | undefined;
  /** /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu 23.10+) */
  apparmorRestrict: number | undefined;
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function readUsernsFacts(root = "/"): UsernsFacts {
  return {
    max: readNumber(`${root}proc/sys/user/max_user_namespaces`),
    unprivilegedClone: readNumber(`${root}proc/sys/kernel/unprivileged_userns_clone`),
    apparmorRestrict: readNumber(`${root}proc/sys/kernel/apparmor_restrict_unprivileged_userns`),
  };
}
