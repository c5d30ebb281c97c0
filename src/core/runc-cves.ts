/**
 * Which known runc vulnerabilities a runc build has, as a pure function of its upstream version and
 * (for distribution builds, which backport fixes without changing the upstream version) the
 * distribution's package version. Every entry is one an untrusted image or process in a container
 * can exploit against the host. Sources: the runc security advisories (GHSA) and the Debian
 * security tracker for bookworm.
 */
import { compareDebian, compareRelease, releaseBranch } from "./versions.ts";

export interface RuncCve {
  id: string;
  summary: string;
  /** first fixed upstream release per maintained branch */
  fixedIn: string[];
  /** distribution package versions known to carry the fix (same or later revision of that line) */
  distroFixed: { distro: "debian"; version: string }[];
  /** the year of the advisory: doctor suggests runsc while a 2025 one is open (no fix in Debian yet) */
  year: number;
}

export const RUNC_CVES: RuncCve[] = [
  {
    id: "CVE-2024-21626",
    summary: "leaked host fd lets the container's cwd or exec reach the host filesystem (Leaky Vessels)",
    fixedIn: ["1.1.12"],
    distroFixed: [{ distro: "debian", version: "1.1.5+ds1-1+deb12u1" }],
    year: 2024,
  },
  {
    id: "CVE-2024-45310",
    summary: "a racing container can make runc create empty files or directories on the host",
    fixedIn: ["1.1.14", "1.2.0-rc.3"],
    distroFixed: [],
    year: 2024,
  },
  {
    id: "CVE-2025-31133",
    summary: "maskedPaths race (/dev/null swapped for a symlink) lets a container write to host procfs files",
    fixedIn: ["1.2.8", "1.3.3", "1.4.0-rc.3"],
    distroFixed: [],
    year: 2025,
  },
  {
    id: "CVE-2025-52565",
    summary: "/dev/console bind-mount race lets a container write to host procfs files",
    fixedIn: ["1.2.8", "1.3.3", "1.4.0-rc.3"],
    distroFixed: [],
    year: 2025,
  },
  {
    id: "CVE-2025-52881",
    summary: "procfs writes redirected through shared mounts bypass LSM labels and can reach host files",
    fixedIn: ["1.2.8", "1.3.3", "1.4.0-rc.3"],
    distroFixed: [],
    year: 2025,
  },
];

/** True when `version` (upstream) is older than the fix for its branch (or than every fix, on an unfixed branch). */
export function upstreamAffected(version: string, fixedIn: string[]): boolean {
  const sorted = [...fixedIn].sort(compareRelease);
  const branch = releaseBranch(version);
  const same = sorted.find((f) => releaseBranch(f) === branch);
  if (same) return compareRelease(version, same) < 0;
  // A branch without its own fix: affected when a fixed release newer than it exists (e.g. 1.1.x
  // for the 2025 advisories, fixed only in 1.2.8 / 1.3.3 / 1.4.0-rc.3).
  return sorted.some((f) => compareRelease(version, f) < 0);
}

export interface CveStatus {
  id: string;
  summary: string;
  year: number;
  affected: boolean;
  /** why: "fixed upstream in X", "fixed by the distribution package Y", "fixed in X; this is Z" */
  reason: string;
}

/**
 * upstream: runc's version ("1.1.5+ds1" as `runc --version` prints it); distro: the package version
 * when runc comes from Debian ("1.1.5+ds1-1+deb12u1"), else undefined.
 */
export function runcCveStatus(upstream: string, distro?: { distro: "debian"; version: string }): CveStatus[] {
  return RUNC_CVES.map((c) => {
    const base = { id: c.id, summary: c.summary, year: c.year };
    if (!upstreamAffected(upstream, c.fixedIn)) return { ...base, affected: false, reason: `fixed upstream in ${c.fixedIn.join(" / ")}` };
    const patched = distro && c.distroFixed.find((d) => d.distro === distro.distro && compareDebian(distro.version, d.version) >= 0);
    if (patched && distro)
      return {
        ...base,
        affected: false,
        reason: `fixed in the ${distro.distro} package since ${patched.version}; this is ${distro.version}`,
      };
    return {
      ...base,
      affected: true,
      reason: `fixed upstream in ${c.fixedIn.join(" / ")}; this is ${distro ? `${distro.distro} ${distro.version}` : upstream}`,
    };
  });
}
