/** A bundle's stored spec as `cm create` makes it, for unit tests of the per-run spec and the run plan. */
import { bundleSpec, type OciSpec } from "../../src/core/spec/index.ts";

export function storedSpec(rootless: boolean, over: { uid?: number; resolvConf?: boolean } = {}): OciSpec {
  const uid = over.uid ?? 1000;
  return bundleSpec({
    projectName: "p",
    projectPath: "/home/u/p",
    bundle: "default",
    hostname: "p",
    source: "dir:/x",
    created: "2026-01-01T00:00:00.000Z",
    arch: "x64",
    rootless,
    uid,
    gid: uid,
    resolvConf: over.resolvConf ?? true,
  });
}
