/**
 * The per-run config carries only what cm wrote, and the runtime is made to prove that it mounted
 * what cm checked.
 *
 *   - storedOnly: a bundle's config.json lives in the data directory; whatever else may have
 *     written it, its `hooks` never reach the runtime and its bind mounts are kept only when they
 *     are the ones cm writes (STORED_BINDS, /project with the bundle's recorded project path).
 *   - verifyMounts: cm resolves a bind source once, on an open descriptor (its real path, device
 *     and inode at that moment); the runtime mounts the path string later, and a directory can be
 *     swapped for a symlink in between (renameat2 RENAME_EXCHANGE). An OCI createContainer hook
 *     runs after every mount is made and before the container's process starts, inside the
 *     container's mount namespace with the rootfs as its working directory: it chroots there (so
 *     the destination resolves as the runtime resolved it, symlinks inside the rootfs) and checks
 *     that each destination leads to a mount point of the container's mount table (read before the
 *     chroot) whose device and inode are what cm checked: a symlink planted in a shared rootfs
 *     towards another copy of the checked object is not a mount point. A mismatch fails the hook,
 *     and the runtime then fails the start: nothing runs. The hook is perl (perl-base is essential
 *     in Debian; ~3 ms), not a descriptor path: runc 1.1 cannot bind /proc/PID/fd/N of cm's
 *     descriptor (EINVAL as root, another mount namespace; EACCES rootless).
 */

import type { Transform } from "./transforms.ts";
import type { Mount, OciSpec } from "./types.ts";

/** Bind mounts cm itself writes into a bundle's config.json at create, by destination -> source. */
export const STORED_BINDS: Readonly<Record<string, string>> = {
  "/etc/resolv.conf": "/etc/resolv.conf",
  "/sys": "/sys",
};

/** The destination of the project bind mount. */
const PROJECT = "/project";

/**
 * Drops a stored spec's hooks and every bind mount cm does not write itself. `projectPath` is the
 * project's real path the bundle recorded: the /project bind must have that source.
 */
export function storedOnly(projectPath: string): Transform {
  const ours = (m: Mount) =>
    (m.type !== "bind" && !m.options?.some((o) => o === "bind" || o === "rbind")) ||
    (m.destination === PROJECT ? m.source === projectPath : STORED_BINDS[m.destination] === m.source);
  return (spec) => {
    const { hooks: _dropped, ...rest } = spec;
    return { ...rest, mounts: spec.mounts.filter(ours) };
  };
}

/** What cm checked of a bind source: the destination it goes to, the source's device and inode. */
export interface MountCheck {
  destination: string;
  /** st_dev and st_ino as decimal strings (64-bit values) */
  dev: string;
  ino: string;
}

/** Default location of perl; `cm doctor`-style checks name it. */
export const PERL = "/usr/bin/perl";

/**
 * The hook's program: `perl -e SCRIPT -- DEST DEV:INO ...`. Exit 0 when every destination is the
 * checked object, else a one-line message on stderr and exit 1. The state on stdin is not read.
 */
const SCRIPT = [
  "use Cwd ();",
  // the mount points of this (the container's) mount namespace, as paths from the host's root
  'my $root = Cwd::getcwd(); my %mp; open(my $mi, "<", "/proc/self/mountinfo") or die "cm: cannot check the mounts: $!\\n";',
  "while (<$mi>) { my $m = (split / /)[4]; $m =~ s/\\\\([0-7]{3})/chr(oct($1))/ge; $mp{$m} = 1 } close($mi);",
  'chroot(".") or die "cm: cannot check the mounts: chroot: $!\\n";',
  "while (@ARGV) {",
  "  my ($d, $want) = splice(@ARGV, 0, 2);",
  // where the destination leads inside the rootfs (symlinks resolved in it, as the runtime did) must be a mount point...
  '  my $r = Cwd::abs_path($d); my $at = defined($r) ? ($r eq "/" ? $root : $root . $r) : "";',
  "  my @s = stat($d);",
  // ... and its device and inode those cm checked
  '  if (!$mp{$at} || !@s || "$s[0]:$s[1]" ne $want) { print STDERR "cm: $d is not what cm checked: its source was replaced while the container started\\n"; exit 1 }',
  "}",
].join(" ");

/** Adds the createContainer hook that checks `checks` (none: no hook). */
export function verifyMounts(checks: readonly MountCheck[], perl = PERL): Transform {
  if (checks.length === 0) return (spec) => spec;
  return (spec: OciSpec) => ({
    ...spec,
    hooks: {
      ...spec.hooks,
      createContainer: [
        ...(spec.hooks?.createContainer ?? []),
        { path: perl, args: ["perl", "-e", SCRIPT, "--", ...checks.flatMap((c) => [c.destination, `${c.dev}:${c.ino}`])], timeout: 60 },
      ],
    },
  });
}
