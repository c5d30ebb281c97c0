/** cm doctor: read the host facts (thin readers), then the pure verdicts of core/doctor. */

import { accessSync, constants, existsSync, readFileSync, realpathSync, statfsSync, statSync } from "node:fs";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { type Check, type DoctorFacts, doctorChecks, type TrustFacts } from "../core/doctor.ts";
import { DEBIAN_PACKAGE } from "../core/names.ts";
import { defaultsFor, type ProjectFile } from "../core/projectfile.ts";
import { missingCertificates } from "../core/run/hostca.ts";
import { INIT_BINARY } from "../core/run/init.ts";
import { type HostBundle, readHostBundle, readRootfsBundle } from "../host/ca.ts";
import { readCgroupFacts } from "../host/cgroups.ts";
import { mapHelper } from "../host/idmap.ts";
import { debianVersionFromCommit, parseRuncVersion, parseSubid, readUsernsFacts } from "../host/probes.ts";
import { capture, findTool } from "../host/tools.ts";
import { type BundleInfo, listBundles } from "../store/bundles.ts";
import type { Context } from "./context.ts";
import { resolveProject } from "./project.ts";
import { loadProjectFile } from "./projectfile.ts";

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
      if (pkg && DEBIAN_PACKAGE.test(pkg)) {
        // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
        const q = capture(dpkg, ["-W", "-f=${Version}", pkg]);
        if (q.status === 0 && q.stdout.trim()) runcDebian = q.stdout.trim();
      }
    }
  }
  return { runc: { path, version }, runcDebian };
}

/**
 * The host's CA bundle against each bundle of the current project (none when the current
 * directory is no project with bundles). Reads certificates only (host/ca.ts); names the missing
 * authorities by their subject's CN (or first field).
 */
async function trustFacts(ctx: Context): Promise<TrustFacts | undefined> {
  let bundles: BundleInfo[];
  let projectPath: string;
  try {
    const project = resolveProject(ctx, undefined, { cwdIsProject: false });
    bundles = listBundles(ctx.layout.data, project.key);
    projectPath = bundles[0]?.projectPath ?? project.path;
  } catch {
    return undefined; // not a project (home directory, /): nothing to compare
  }
  if (bundles.length === 0) return undefined;
  let host: HostBundle;
  try {
    host = readHostBundle(process.env);
  } catch (err) {
    const names = bundles.map((b) => ({ name: b.bundle, store: undefined, missing: [], hostCa: false }));
    return { host: { error: (err as Error).message.replace(/^--host-ca: /, "") }, bundles: names };
  }
  let file: ProjectFile | undefined;
  try {
    file = await loadProjectFile(ctx, projectPath);
  } catch {
    file = undefined; // cm run reports a bad cm.toml; here it only means "no host_ca from it"
  }
  const { X509Certificate } = await import("node:crypto");
  const subject = (b64: string) => {
    try {
      const s = new X509Certificate(Buffer.from(b64, "base64")).subject.split("\n");
      return (s.find((l) => l.startsWith("CN=")) ?? s[0] ?? "?").replace(/^CN=/, "");
    } catch {
      return "an unparsable certificate";
    }
  };
  return {
    host: { path: host.path, count: new Set(host.certs).size },
    bundles: bundles.map((b) => {
      const store = readRootfsBundle(join(b.dir, "rootfs"));
      const missing = missingCertificates(host.certs, store?.certs ?? []);
      return { name: b.bundle, store: store?.path, missing: missing.map(subject), hostCa: defaultsFor(file, b.bundle).run.hostCa === true };
    }),
  };
}

export async function doctor(ctx: Context): Promise<Check[]> {
  const user = userInfo().username;
  let disk: DoctorFacts["disk"];
  try {
    const at = nearestExisting(ctx.layout.data);
    const s = statfsSync(at);
    disk = { path: at, freeBytes: s.bavail * s.bsize };
  } catch {
    disk = undefined;
  }
  const uidmap = mapHelper("newuidmap");
  const gidmap = mapHelper("newgidmap");
  const facts: DoctorFacts = {
    rootless: ctx.rootless,
    user,
    ...runcFacts(),
    runsc: findTool("runsc") !== undefined,
    userns: readUsernsFacts(),
    newuidmap: uidmap.usable,
    newgidmap: gidmap.usable,
    idmapHow: { newuidmap: uidmap.how, newgidmap: gidmap.how },
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
    trust: await trustFacts(ctx),
  };
  return doctorChecks(facts);
}
