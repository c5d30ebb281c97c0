/** dir:PATH: a copy of an existing directory tree. */
import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { isWithin } from "../core/path.ts";
import type { IdMap } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import { realPath } from "../host/fs.ts";
import { exitStatus, requireTool, stderrTail, track } from "../host/tools.ts";
import type { ExtractResult } from "../tar/extract.ts";
import { extractionDetail } from "../ui/progress.ts";
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
    const real = realPath(this.path);
    const own = [ctx.data, ctx.cache].map((d) => {
      try {
        return realPath(d);
      } catch (err) {
        if (err instanceof CmError) throw err;
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
    if (ctx.ids) return this.copyShifted(target, ctx, ctx.ids);
    await copyTree(this.path, target);
    return undefined;
  }

  /**
   * Range mode: the tree is read by tar as the user (what the user can read, as with cp) and written
   * by cm's extractor in the user namespace. Its owners are host ids: the user's own become 0, its
   * subordinate ids their container ids, any other id (a tree made by root) is taken as a container
   * id as it is. Extended attributes are not carried (cp -a does carry them in single mode).
   */
  private async copyShifted(target: string, ctx: SourceContext, ids: IdMap): Promise<Materialized | undefined> {
    const tar = track(
      spawn(requireTool("tar"), ["-C", this.path, "-c", "-f", "-", "--numeric-owner", "--one-file-system", "."], {
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    const stderr = stderrTail(tar);
    const exited = exitStatus(tar);
    const { extractInUserns, unmappedNote } = await import("./userns.ts");
    let r: ExtractResult;
    try {
      r = await extractInUserns(ids, tar.stdout, target, {
        what: `dir:${this.path}`,
        hostIds: true,
        onProgress: extractionDetail(ctx.progress),
      });
    } catch (err) {
      tar.kill("SIGKILL");
      throw err;
    }
    const status = await exited;
    if (status !== 0) {
      const last = stderr().trim().split("\n").pop() ?? `exit status ${status}`;
      throw new CmError("bad-source", `reading ${this.path} failed: ${last}`, { hint: "every file of dir:PATH must be readable by you" });
    }
    const note = unmappedNote(r.unmapped, ids);
    return note ? { note } : undefined;
  }
}
