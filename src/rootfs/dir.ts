/** dir:PATH: a copy of an existing directory tree. */
import { statSync } from "node:fs";
import { resolve } from "node:path";
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

  check(): void {
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
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined> {
    ctx.progress.phase(`copying ${this.path}`);
    await copyTree(this.path, target);
    return undefined;
  }
}
