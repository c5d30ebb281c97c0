/**
 * bundle:[PROJECT/]BUNDLE: a copy of another bundle's root filesystem (default: this project's),
 * with the run defaults of the image it was made from, if any.
 */
import { join } from "node:path";
import { checkBundleName, checkProjectName, projectKey } from "../core/names.ts";
import { recordedImageDefaults } from "../core/runtime-spec/image.ts";
import { USERNS_ANNOTATION } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { userIdMap } from "../host/idmap.ts";
import { bundleNames, readBundle } from "../store/bundles.ts";
import { copyTree } from "./copy.ts";
import type { Materialized, RootfsSource, SourceContext } from "./source.ts";

export class BundleSource implements RootfsSource {
  readonly project: string | undefined;
  readonly bundle: string;
  readonly description: string;

  constructor(spec: string) {
    const slash = spec.indexOf("/");
    const project = slash < 0 ? undefined : spec.slice(0, slash);
    const bundle = slash < 0 ? spec : spec.slice(slash + 1);
    if (project !== undefined) checkProjectName(project);
    this.project = project;
    this.bundle = checkBundleName(bundle);
    this.description = `bundle:${spec}`;
  }

  private key(ctx: SourceContext): string {
    return this.project === undefined ? ctx.projectKey : projectKey(this.project);
  }

  check(ctx: SourceContext): void {
    const key = this.key(ctx);
    if (readBundle(ctx.data, key, this.bundle)) return;
    const existing = bundleNames(ctx.data, key);
    const project = this.project ?? "this project";
    throw new CmError(
      "bad-source",
      `no bundle ${JSON.stringify(this.bundle)} in ${this.project ? `project ${JSON.stringify(project)}` : project} to copy from`,
      {
        hint: existing.length ? `its bundles: ${existing.join(", ")}` : "see cm list",
      },
    );
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined> {
    const info = readBundle(ctx.data, this.key(ctx), this.bundle);
    if (!info) throw new CmError("bad-source", `bundle ${this.description} disappeared while copying`, { hint: "try again" });
    ctx.progress.phase(`copying the root filesystem of ${this.description}`);
    const from = join(info.dir, "rootfs");
    if (ctx.ids) {
      // Range mode: owners kept as container ids (a single-id bundle's are all 0 already).
      await (await import("./userns.ts")).copyInUserns(ctx.ids, from, target);
    } else if (ctx.rootless && info.spec.annotations?.[USERNS_ANNOTATION] === "range") {
      // A range bundle into a single-id one: only the namespace can read all of it; everything becomes the user's.
      const map = userIdMap().map;
      if (!map) {
        throw new CmError(
          "bad-source",
          `${this.description} belongs to your subordinate ids, which are not usable now (${userIdMap().why})`,
          {
            hint: "restore /etc/subuid, /etc/subgid and newuidmap/newgidmap (cm doctor)",
          },
        );
      }
      await (await import("./userns.ts")).copyInUserns(map, from, target, false);
    } else {
      await copyTree(from, target);
    }
    // A bundle made from an image: the copy keeps the image's run defaults (env, entrypoint, cmd, user).
    const image = recordedImageDefaults(info.spec);
    return { ...(info.sizeBytes === undefined ? {} : { sizeBytes: info.sizeBytes }), ...(image ? { image } : {}) };
  }
}
