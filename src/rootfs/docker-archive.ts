/** docker-archive:PATH — an image saved with `docker save` (or skopeo's docker-archive: transport). */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import { CmError } from "../errors.ts";
import { resolveDockerArchive } from "../image/docker-archive.ts";
import type { Platform } from "../image/manifest.ts";
import { materializeImage, platformOption } from "./image.ts";
import type { Materialized, RootfsSource, SourceContext, SourceOptions } from "./source.ts";

export class DockerArchiveSource implements RootfsSource {
  readonly description: string;
  readonly streams = true;
  readonly path: string;
  private readonly platform: { platform: Platform; explicit: boolean };

  constructor(text: string, opts: SourceOptions) {
    this.path = resolve(text);
    this.description = `docker-archive:${this.path}`;
    this.platform = platformOption(opts);
  }

  check(): void {
    let ok = false;
    try {
      ok = statSync(this.path).isFile();
    } catch {
      ok = false;
    }
    if (!ok)
      throw new CmError("bad-source", `${this.path} is not a readable file`, {
        hint: "give docker-archive:PATH of a tarball written by docker save",
      });
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized> {
    const image = await resolveDockerArchive(this.path, this.platform.platform);
    return materializeImage(image, target, ctx);
  }
}
