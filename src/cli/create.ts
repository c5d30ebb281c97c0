import { hostContext } from "../actions/context.ts";
import { create } from "../actions/create.ts";
import { parseUsernsMode } from "../core/userns.ts";
import { bool, parse, str, tooMany } from "./args.ts";

export const usage = `Usage: cm create [BUNDLE] [OPTIONS]

Make a bundle for the project in the current directory: a root filesystem plus an OCI config.json,
stored in \${CM_HOME:-\${XDG_DATA_HOME:-~/.local/share}/cm}/<project>/<bundle>/. BUNDLE defaults to
"default". The first bundle from a source bootstraps it once into the cache; later ones copy it.

Options:
  --from SOURCE        where the root filesystem comes from (default: cm.toml's, else
                       debian:bookworm):
                         debian[:SUITE]   a minimal Debian (minbase) bootstrapped with mmdebstrap
                                          (debootstrap as root if mmdebstrap is missing), cached
                         tar:PATH         a root filesystem tarball (.tar, .tar.gz/.tgz, .tar.xz,
                                          .tar.zst), extracted safely
                         dir:PATH         a copy of an existing directory tree
                         docker:IMAGE     a local image's filesystem (docker create + export)
                         podman:IMAGE     the same with podman (never pulls)
                         bundle:[PROJECT/]BUNDLE
                                          a copy of another bundle's root filesystem
                         image:REF        an image pulled from a registry by cm itself (debian:bookworm,
                                          ghcr.io/owner/repo:tag, host:5000/repo@sha256:...)
                         oci-layout:PATH[:TAG]
                                          an image in an OCI image layout directory
                         docker-archive:PATH
                                          an image saved with docker save
  --packages A,B,C     extra Debian packages to include (debian sources only; replaces
                       cm.toml's packages), installed as apt-get install does: with their
                       Recommends
  --no-install-recommends
                       a slim bundle: the packages without their Recommends
  --mirror MIRROR      debian sources: bootstrap from MIRROR instead of deb.debian.org: a URI
                       (http://mirror.example/debian) or one sources.list line ('deb
                       [trusted=yes] copy:///srv/repo ./'); repeat for several. The bundle's
                       sources.list lists them (no automatic -updates/-security entries then)
  --http-proxy[=false]
                       post_create commands get the host's HTTP_PROXY, HTTPS_PROXY, FTP_PROXY,
                       NO_PROXY (and lower-case forms); on by default (as Podman), =false: off
  --host-ca[=false]
                       post_create commands trust the host's certificate authorities (see
                       cm run --help); off by default
  --platform OS/ARCH[/VARIANT]
                       image sources: which image of a multi-platform index (default: this host's)
  --insecure-registry HOST[:PORT]
                       image sources: allow plain HTTP to HOST (loopback registries always may);
                       may be repeated
  --project NAME       use NAME as the project name instead of the directory's name
  --userns range|single
                       rootless: which ids the bundle maps. range (the default where you have
                       /etc/subuid and /etc/subgid ranges and newuidmap): container root is you and
                       ids 1..N are your subordinate ids, so packages with system users and
                       setuid/setgid files work; single: only your own id (container root)
  --force              rebuild the bundle if it exists
  --refresh            bootstrap the cached base again instead of reusing it
  -q, --quiet          print only errors and the final line (also when stderr is not a terminal)
  -h, --help           show this help

Environment: CM_CACHE_DIR (default \${XDG_CACHE_HOME:-~/.cache}/cm) holds the bases; CM_BOOTSTRAP=
mmdebstrap|debootstrap forces the bootstrap tool. See also: cm cache list, cm cache prune.

On/off flags also take Podman's --NAME=true and --NAME=false (one argument, no space; node's
own parser has no such form, cm reads it itself): --http-proxy=false turns the default off,
--host-ca=false a cm.toml host_ca = true.

A cm.toml in the project directory sets defaults ([create] from, packages, post_create, userns; a
[bundle.NAME.create] section for one bundle); flags win. post_create commands run inside the new
bundle before it is put in place: if one fails, no bundle is created.
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("create", argv, {
    from: { type: "string" },
    packages: { type: "string" },
    "no-install-recommends": { type: "boolean" },
    mirror: { type: "string", multiple: true },
    "http-proxy": { type: "boolean" },
    "host-ca": { type: "boolean" },
    platform: { type: "string" },
    "insecure-registry": { type: "string", multiple: true },
    project: { type: "string" },
    force: { type: "boolean" },
    refresh: { type: "boolean" },
    userns: { type: "string" },
    quiet: { type: "boolean", short: "q" },
  });
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("create", [...p.positionals.slice(1), ...p.rest]);
  const packagesText = str(p.values.packages);
  const packages =
    packagesText === undefined
      ? undefined
      : packagesText
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
  await create(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: str(p.values.project),
    from: str(p.values.from),
    packages,
    installRecommends: p.values["no-install-recommends"] === true ? false : undefined,
    mirrors: Array.isArray(p.values.mirror) ? p.values.mirror : undefined,
    httpProxy: bool(p.values["http-proxy"]),
    hostCa: bool(p.values["host-ca"]),
    platform: str(p.values.platform),
    insecureRegistries: Array.isArray(p.values["insecure-registry"]) ? p.values["insecure-registry"] : [],
    userns: str(p.values.userns) === undefined ? undefined : parseUsernsMode(str(p.values.userns) as string),
    force: p.values.force === true,
    refresh: p.values.refresh === true,
    quiet: p.values.quiet === true,
  });
  return 0;
}
