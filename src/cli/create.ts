import { hostContext } from "../actions/context.ts";
import { create } from "../actions/create.ts";
import { defineCommand } from "../core/command.ts";
import { parseUsernsMode } from "../core/userns.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "create",
  positionals: [{ name: "BUNDLE", optional: true, complete: "bundle" }],
  description: `Make a bundle for the project in the current directory: a root filesystem plus an OCI config.json,
stored in \${CM_HOME:-\${XDG_DATA_HOME:-~/.local/share}/cm}/<project>/<bundle>/. BUNDLE defaults to
"default". The first bundle from a source bootstraps it once into the cache; later ones copy it.`,
  options: {
    from: {
      type: "string",
      value: "SOURCE",
      help: `where the root filesystem comes from (default: cm.toml's, else debian:bookworm):
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
                   an image saved with docker save`,
    },
    packages: {
      type: "string",
      value: "A,B,C",
      help: `extra Debian packages to include (debian sources only; replaces cm.toml's packages), installed as
apt-get install does: with their Recommends`,
    },
    "no-install-recommends": { type: "boolean", help: "a slim bundle: the packages without their Recommends" },
    mirror: {
      type: "string",
      multiple: true,
      value: "MIRROR",
      help: `debian sources: bootstrap from MIRROR instead of deb.debian.org: a URI
(http://mirror.example/debian) or one sources.list line ('deb [trusted=yes] copy:///srv/repo ./');
repeat for several. The bundle's sources.list lists them (no automatic -updates/-security entries then)`,
    },
    "http-proxy": {
      type: "boolean",
      falseForm: true,
      help: `post_create commands get the host's HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY (and
lower-case forms); on by default (as Podman), =false: off`,
    },
    "host-ca": {
      type: "boolean",
      falseForm: true,
      help: "post_create commands trust the host's certificate authorities (see cm run --help); off by default",
    },
    platform: {
      type: "string",
      value: "OS/ARCH[/VARIANT]",
      help: "image sources: which image of a multi-platform index (default: this host's)",
    },
    "insecure-registry": {
      type: "string",
      multiple: true,
      value: "HOST[:PORT]",
      help: "image sources: allow plain HTTP to HOST (loopback registries always may); may be repeated",
    },
    project: { type: "string", value: "NAME", complete: "project", help: "use NAME as the project name instead of the directory's name" },
    userns: {
      type: "string",
      value: "range|single",
      complete: ["range", "single"],
      help: `rootless: which ids the bundle maps. range (the default where you have /etc/subuid and
/etc/subgid ranges and newuidmap): container root is you and ids 1..N are your subordinate ids, so
packages with system users and setuid/setgid files work; single: only your own id (container root)`,
    },
    force: { type: "boolean", help: "rebuild the bundle if it exists" },
    refresh: { type: "boolean", help: "bootstrap the cached base again instead of reusing it" },
    quiet: { type: "boolean", short: "q", help: "print only errors and the final line (also when stderr is not a terminal)" },
  },
  footer: `Environment: CM_CACHE_DIR (default \${XDG_CACHE_HOME:-~/.cache}/cm) holds the bases; CM_BOOTSTRAP=
mmdebstrap|debootstrap forces the bootstrap tool. See also: cm cache list, cm cache prune.

A cm.toml in the project directory sets defaults ([create] from, packages, post_create, userns; a
[bundle.NAME.create] section for one bundle); flags win. post_create commands run inside the new
bundle before it is put in place: if one fails, no bundle is created.

On/off flags also take Podman's --NAME=true and --NAME=false (one argument, no space; node's
own parser has no such form, cm reads it itself): --http-proxy=false turns the default off,
--host-ca=false a cm.toml host_ca = true.`,
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("create", [...p.positionals.slice(1), ...p.rest]);
  const v = p.values;
  const packages =
    v.packages === undefined
      ? undefined
      : v.packages
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean);
  await create(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: v.project,
    from: v.from,
    packages,
    platform: v.platform,
    insecureRegistries: v["insecure-registry"] ?? [],
    force: v.force === true,
    refresh: v.refresh === true,
    quiet: v.quiet === true,
    installRecommends: v["no-install-recommends"] === true ? false : undefined,
    mirrors: v.mirror,
    httpProxy: v["http-proxy"],
    hostCa: v["host-ca"],
    userns: v.userns === undefined ? undefined : parseUsernsMode(v.userns),
  });
  return 0;
}
