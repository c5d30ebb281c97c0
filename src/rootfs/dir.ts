/** dir:PATH: a copy of an existing directory tree. */
import { realpathSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { isWithin } from "../core/path.ts";
import { CmError } from "../errors.ts";
import { copyTree } from "./copy.ts";
import type { Materialized, RootfsSource, SourceContext } from "./source.ts";

export class DirSource implements RootfsSource {
  readonly path: string;
  readonly description: string;

  constructor(path: string) {
    this.path = resolve(path);
    this.description = `dir:${this.path}`;
  }

  check(ctx: SourceContext): void {
    let isDir = false;
    try {
      isDir = statSync(this.path).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir)
      throw new CmError("bad-source", `${this.path} is not a readable directory`, {
        hint: "give dir:PATH of an existing root filesystem tree",
      });
    // The host's own root, its kernel file systems, or a tree holding cm's own directories (the
    // copy would copy itself) are never a root filesystem to copy.
    const real = realpathSync(this.path);
    const own = [ctx.data, ctx.cache].map((d) => {
      try {
        return realpathSync(d);
      } catch {
        return d;
      }
    });
    if (real === "/" || ["/proc", "/sys", "/dev", "/run"].some((d) => isWithin(real, d)) || own.some((d) => isWithin(d, real))) {
      throw new CmError("bad-source", `refusing dir:${real}: it is the host's root, a kernel file system, or holds cm's own directories`, {
        hint: "give dir:PATH of a root filesystem tree of its own (for example one made with mmdebstrap or debootstrap)",
      });
    }
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined> {
    ctx.progress.phase(`copying ${this.path}`);
    await copyTree(this.path, target);
    return undefined;
  }
}
