/** Bundle spec inputs and a bundle's stored spec as `cm create` makes it, for unit tests of the spec and the run plan. */
import { type BundleSpecInput, bundleSpec, type OciSpec } from "../../src/core/runtime-spec/index.ts";

/** What `cm create` passes to bundleSpec for project "p" (uid/gid 1000 rootless, 0 as root), with `over` applied. */
export function bundleInput(rootless: boolean, over: Partial<BundleSpecInput> = {}): BundleSpecInput {
  const uid = rootless ? 1000 : 0;
  return {
    projectName: "p",
    projectPath: "/home/u/p",
    bundle: "default",
    hostname: "p",
    source: "dir:/x",
    created: "2026-11-28T00:00:00.000Z",
    arch: "x64",
    rootless,
    uid,
    gid: uid,
    resolvConf: true,
    ...over,
  };
}

export function storedSpec(rootless: boolean, over: { uid?: number; resolvConf?: boolean } = {}): OciSpec {
  const uid = over.uid ?? 1000;
  return bundleSpec(bundleInput(rootless, { created: "2026-01-01T00:00:00.000Z", uid, gid: uid, resolvConf: over.resolvConf ?? true }));
}
