/**
 * Where a root filesystem comes from. Every source implements the same small interface and lives
 * in its own file; parseSource() turns the --from text into one.
 */
import type { ImageDefaults } from "../core/runtime-spec/index.ts";
import type { IdMap } from "../core/userns.ts";
import { CmError } from "../errors.ts";
import type { Progress } from "../ui/progress.ts";

export interface SourceContext {
  rootless: boolean;
  uid: number;
  gid: number;
  /**
   * Range mode (core/userns.ts): the bundle's mapping. Every tree is then written as root of a
   * user namespace with it (rootfs/userns.ts), owners kept and shifted into the range.
   */
  ids?: IdMap | undefined;
  /** cm's cache directory (bootstrapped bases live below it) */
  cache: string;
  /** rebuild cached material instead of reusing it */
  refresh: boolean;
  progress: Progress;
  /** cm's data directory and the current project's key (for bundle: sources) */
  data: string;
  projectKey: string;
}

/** What a source can tell create about the tree it made (all optional). */
export interface Materialized {
  /** disk usage of the tree when the source already knows it (a cached base records it) */
  sizeBytes?: number;
  /** a note for the final line ("from the cached base ...") */
  note?: string;
  /** image sources: the image config's run defaults */
  image?: ImageDefaults | undefined;
}

export interface RootfsSource {
  /** The canonical text of the source, recorded with the bundle ("debian:bookworm"). */
  readonly description: string;
  /** True when materialising streams a large archive through cm itself (image layers, a tarball): cm then runs lean (host/lean.ts). */
  readonly streams?: boolean;
  /** Fails early with a clear error if the source cannot be used (tool missing, file unreadable). */
  check(ctx: SourceContext): void;
  /** Fills `target` (an existing empty directory) with the root filesystem. */
  materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined>;
}

export interface SourceOptions {
  packages: string[];
  /** debian sources: install the packages' Recommends (default true, as apt-get install) */
  recommends?: boolean | undefined;
  /** debian sources: mmdebstrap mirrors (URIs or sources.list lines) instead of Debian's default */
  mirrors?: string[] | undefined;
  /** the options above that were given as flags, for the error when the source is not Debian */
  debianFlags?: string[] | undefined;
  /** image sources: OS/ARCH[/VARIANT] to pick from a multi-platform image (default: the host's) */
  platform?: string | undefined;
  /** image sources: registries that may be spoken to over plain HTTP */
  insecureRegistries?: string[] | undefined;
}

const IMAGE_SCHEMES = ["image", "oci-layout", "docker-archive"];

export async function parseSource(text: string, opts: SourceOptions): Promise<RootfsSource> {
  const colon = text.indexOf(":");
  const scheme = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  if ((opts.platform !== undefined || (opts.insecureRegistries?.length ?? 0) > 0) && !IMAGE_SCHEMES.includes(scheme)) {
    throw new CmError("bad-source", `--platform and --insecure-registry work only with image sources, not ${JSON.stringify(text)}`, {
      hint: "use them with --from image:REF, oci-layout:PATH or docker-archive:PATH",
    });
  }
  if (scheme !== "debian" && opts.packages.length > 0) {
    throw new CmError("bad-source", `--packages works only with debian sources, not ${JSON.stringify(text)}`, {
      hint: "install packages with --from debian:SUITE --packages ..., or inside the container",
    });
  }
  if (scheme !== "debian" && (opts.debianFlags?.length ?? 0) > 0) {
    throw new CmError("bad-source", `${opts.debianFlags?.[0]} works only with debian sources, not ${JSON.stringify(text)}`, {
      hint: "use it with --from debian:SUITE",
    });
  }
  switch (scheme) {
    case "debian": {
      const { DebianSource } = await import("./debian.ts");
      return new DebianSource(rest || "bookworm", opts.packages, { recommends: opts.recommends ?? true, mirrors: opts.mirrors ?? [] });
    }
    case "dir": {
      const { DirSource } = await import("./dir.ts");
      return new DirSource(requirePath(text, rest));
    }
    case "tar": {
      const { TarSource } = await import("./tar.ts");
      return new TarSource(requirePath(text, rest));
    }
    case "docker":
    case "podman": {
      const { EngineSource } = await import("./engine.ts");
      return new EngineSource(scheme, requirePath(text, rest, "an image name"));
    }
    case "bundle": {
      const { BundleSource } = await import("./bundle.ts");
      return new BundleSource(requirePath(text, rest, "a bundle name"));
    }
    case "image": {
      const { ImageSource } = await import("./image.ts");
      return new ImageSource(requirePath(text, rest, "an image reference"), opts);
    }
    case "oci-layout": {
      const { OciLayoutSource } = await import("./oci-layout.ts");
      return new OciLayoutSource(requirePath(text, rest), opts);
    }
    case "docker-archive": {
      const { DockerArchiveSource } = await import("./docker-archive.ts");
      return new DockerArchiveSource(requirePath(text, rest), opts);
    }
    default:
      throw new CmError("bad-source", `unknown rootfs source ${JSON.stringify(text)}`, {
        hint: "use debian[:SUITE], tar:PATH, dir:PATH, docker:IMAGE, podman:IMAGE, bundle:[PROJECT/]BUNDLE, image:REF, oci-layout:PATH[:TAG] or docker-archive:PATH",
      });
  }
}

function requirePath(text: string, path: string, what = "a path"): string {
  if (!path) throw new CmError("bad-source", `${JSON.stringify(text)} needs ${what} after the colon`, { hint: "see cm create --help" });
  return path;
}
