/** tar:PATH: a root filesystem tarball (.tar, .tar.gz/.tgz, .tar.xz, .tar.zst). */
import { accessSync, constants, statSync } from "node:fs";
import { resolve } from "node:path";
import { CmError } from "../errors.ts";
import { extractTarFile } from "../tar/extract.ts";
import { xattrNote } from "../tar/xattrs.ts";
import { extractionDetail } from "../ui/progress.ts";
import type { Materialized, RootfsSource, SourceContext } from "./source.ts";

export class TarSource implements RootfsSource {
  readonly path: string;
  readonly description: string;
  readonly streams = true;

  constructor(path: string) {
    this.path = resolve(path);
    this.description = `tar:${this.path}`;
  }

  check(): void {
    try {
      if (!statSync(this.path).isFile()) throw new Error("not a file");
      accessSync(this.path, constants.R_OK);
    } catch {
      throw new CmError("bad-source", `${this.path} is not a readable file`, { hint: "give tar:PATH of a root filesystem tarball" });
    }
  }

  /** Untrusted input: the safe extractor (see tar/extract.ts), with bytes and entries as progress. */
  async materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined> {
    ctx.progress.phase(`extracting ${this.path}`);
    const onProgress = extractionDetail(ctx.progress);
    if (ctx.ids) {
      const { extractInUserns, unmappedNote } = await import("./userns.ts");
      const r = await extractInUserns(ctx.ids, { file: this.path }, target, { what: `tarball ${this.path}`, onProgress });
      const note = [xattrNote(r.xattrs), unmappedNote(r.unmapped, ctx.ids)].filter(Boolean).join(" ");
      return note ? { note } : undefined;
    }
    const r = await extractTarFile(this.path, target, { rootless: ctx.rootless, onProgress });
    const note = xattrNote(r.xattrs);
    return note ? { note } : undefined;
  }
}
