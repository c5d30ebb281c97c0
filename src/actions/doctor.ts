/** cm doctor: read the host facts (thin readers), then the pure verdicts of core/doctor. */

import { accessSync, constants, existsSync, readFileSync, realpathSync, statfsSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname } from "node:path";
import { type Check, type DoctorFacts, doctorChecks } from "../core/doctor.ts";
import { INIT_BINARY } from "../core/run/init.ts";
import { readCgroupFacts } from "../host/cgroups.ts";
import { debianVersionFromCommit, parseRuncVersion, parseSubid, readUsernsFacts } from "../host/probes.ts";
import { capture, findTool } from "../host/tools.ts";
import type { Context } from "./context.ts";

/** The directory itself if it exists, else its nearest existing ancestor (where it would be made). */
function nearestExisting(path: string): string {
  let p = path;
  while (!existsSync(p) && p !== dirname(p)) p = dirname(p);
  return p;
}

function writable(path: string): { writable: boolean; reason?: string } {
  const at = nearestExisting(path);
  if (!statSync(at).isDirectory()) return { writable: false, reason: `${at} is not a directory` };
  try {
    accessSync(at, constants.W_OK | constants.X_OK);
    return { writable: true };
  } catch (err) {
    return { writable: false, reason: `${at}: ${(err as NodeJS.ErrnoException).code ?? "not writable"}` };
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function runcFacts(): Pick<DoctorFacts, "runc" | "runcDebian"> {
  const path = findTool("runc");
  if (!path) return { runc: undefined, runcDebian: undefined };
  const r = capture(path, ["--version"]);
  const version = r.status === 0 ? parseRuncVersion(r.stdout) : undefined;
  let runcDebian = debianVersionFromCommit(version?.commit);
  if (!runcDebian && version) {
    // A packaged binary (/usr/bin, /usr/sbin) whose commit line does not say: ask dpkg who owns it.
    const real = realpathSync(path);
    const dpkg = findTool("dpkg-query");
    if (dpkg && real.startsWith("/usr/") && !real.startsWith("/usr/local/")) {
      const owner = capture(dpkg, ["-S", real]);
      const pkg = owner.status === 0 ? owner.stdout.split(":")[0]?.trim() : undefined;
      if (pkg && /^[a-z0-9][a-z0-9+.-]*$/.test(pkg)) {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
        const q = capture(dpkg, ["-W", "-f=${Version}", pkg]);
        if (q.status === 0 && q.stdout.trim()) runcDebian = q.stdout.trim();
      }
    }
  }
  return { runc: { path, version }, runcDebian };
}

export function doctor(ctx: Context): Check[] {
  const user = userInfo().username;
  let disk: DoctorFacts["disk"];
  try {
    const at = nearestExisting(ctx.layout.data);
    const s = statfsSync(at);
    disk = { path: at, freeBytes: s.bavail * s.bsize };
  } catch {
    disk = undefined;
  }
  const facts: DoctorFacts = {
    rootless: ctx.rootless,
    user,
    ...runcFacts(),
    runsc: findTool("runsc") !== undefined,
    userns: readUsernsFacts(),
    newuidmap: findTool("newuidmap") !== undefined,
    newgidmap: findTool("newgidmap") !== undefined,
    subuid: parseSubid(readText("/etc/subuid"), user, ctx.uid),
    subgid: parseSubid(readText("/etc/subgid"), user, ctx.gid),
    cgroups: readCgroupFacts(),
    mmdebstrap: findTool("mmdebstrap") !== undefined,
    setfattr: findTool("setfattr") !== undefined,
    init: findTool(INIT_BINARY) !== undefined,
    dirs: [
      { name: "data", path: ctx.layout.data, ...writable(ctx.layout.data) },
      { name: "cache", path: ctx.layout.cache, ...writable(ctx.layout.cache) },
      { name: "state", path: ctx.layout.state, ...writable(ctx.layout.state) },
    ],
    disk,
  };
  return doctorChecks(facts);
}
