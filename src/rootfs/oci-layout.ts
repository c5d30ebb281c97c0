/** oci-layout:PATH[:TAG] — an image in an OCI image layout directory (skopeo, buildah, umoci write them). */
import { statSync } from "node:fs";
import { resolve } from "node:path";
import type { Platform } from "../image/manifest.ts";
import { OciLayout, splitLayoutArg } from "../image/oci-layout.ts";
import { materializeImage, platformOption } from "./image.ts";
import type { Materialized, RootfsSource, SourceContext, SourceOptions } from "./source.ts";

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export class OciLayoutSource implements RootfsSource {
  readonly description: string;
  readonly streams = true;
  private readonly layout: OciLayout;
  private readonly tag: string | undefined;
  private readonly platform: { platform: Platform; explicit: boolean };

  constructor(text: string, opts: SourceOptions) {
    const { path, tag } = splitLayoutArg(text, isDir);
    this.layout = new OciLayout(resolve(path));
    this.tag = tag;
    this.description = `oci-layout:${this.layout.dir}${tag ? `:${tag}` : ""}`;
    this.platform = platformOption(opts);
  }

  check(): void {
    this.layout.check();
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized> {
    const image = this.layout.resolve(this.tag, this.platform.platform, this.platform.explicit);
    return materializeImage(image, target, ctx);
  }
}
