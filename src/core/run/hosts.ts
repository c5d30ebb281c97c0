/**
 * /etc/hosts and /etc/hostname of a run: written into the run directory and bind-mounted
 * read-only over the bundle's (as Docker and Podman do per container). Pure: content and the spec
 * transform; actions write the files.
 *
 * Per run rather than written into the bundle at create: every run gets them right whatever made
 * the bundle (an image, a directory, a bundle of an older cm), with the hostname the run actually
 * has, and the bundle's root filesystem is never changed by a run. A user's own lines in the
 * bundle's `rootfs/etc/hosts` are kept: they follow cm's lines in every run. Inside, the files are
 * read-only, so an edit fails loudly instead of vanishing when the run ends.
 */
import type { Mount } from "../runtime-spec/types.ts";

export const HOSTS_PATH = "/etc/hosts";
export const HOSTNAME_PATH = "/etc/hostname";

/** Names of the files in the run directory. */
export const HOSTS_FILE = "hosts";
export const HOSTNAME_FILE = "hostname";

/** The most of a bundle's own /etc/hosts that is carried into a run (the rest is dropped, with a note line). */
export const MAX_BUNDLE_HOSTS = 64 * 1024;

/** Names cm's lines already give: a bundle's own line naming only these adds nothing. */
const CM_NAMES = new Set([
  "localhost",
  "ip6-localhost",
  "ip6-loopback",
  "localhost.localdomain",
  "ip6-localnet",
  "ip6-mcastprefix",
  "ip6-allnodes",
  "ip6-allrouters",
]);

/**
 * The /etc/hosts of a run with hostname `hostname`: loopback names (Docker's lines), the hostname
 * on 127.0.1.1 (as Debian's installer writes it, so it resolves without a network), then the lines
 * of the bundle's own file (`bundleHosts`, its text) except those that only repeat cm's names.
 */
export function hostsFile(hostname: string, bundleHosts = ""): string {
  const lines = [
    "# written by cm for this run; the bundle's own /etc/hosts lines follow",
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "ff00::0\tip6-mcastprefix",
    "ff02::1\tip6-allnodes",
    "ff02::2\tip6-allrouters",
    `127.0.1.1\t${hostname}`,
  ];
  const own: string[] = [];
  for (const raw of bundleHosts.slice(0, MAX_BUNDLE_HOSTS).split("\n")) {
    const line = raw.replace(/\r$/, "");
    const words = line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean);
    if (words.length < 2) continue; // blank, a comment, or no name
    if (line.startsWith("# written by cm")) continue;
    if (words.slice(1).every((n) => CM_NAMES.has(n) || n === hostname)) continue;
    own.push(line);
  }
  return `${[...lines, ...own].join("\n")}\n`;
}

/** /etc/hostname: the hostname and a newline. */
export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/** The read-only bind mounts of the run's files (host paths) over /etc/hosts and /etc/hostname. */
export function etcMounts(files: { hosts: string; hostname: string }): Mount[] {
  const options = ["bind", "ro", "nosuid", "nodev", "noexec"];
  return [
    { destination: HOSTS_PATH, type: "bind", source: files.hosts, options },
    { destination: HOSTNAME_PATH, type: "bind", source: files.hostname, options },
  ];
}
