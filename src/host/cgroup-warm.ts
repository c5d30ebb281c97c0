/**
 * Starting the kernel's cgroup-migration grace period early, so that the runtime does not wait
 * for it (issue 17; figures in bench/README.md "The cgroup grace period").
 *
 * Every move of a process into a cgroup (a write to `cgroup.procs`, in any hierarchy, v1 or v2)
 * takes the kernel's one global `cgroup_threadgroup_rwsem` for writing. It is a per-CPU rwsem:
 * a writer that finds it idle first waits for an RCU grace period (`rcu_sync_enter`, ~10 ms on the
 * development host), and the rwsem stays in writer mode for one more grace period after the last
 * writer, so a move soon after another one does not wait. runc moves the container's first
 * process into its cgroup on every `run` and `exec` (with the systemd driver, systemd does it for
 * runc), so a runc started from rest waits ~10 ms on that, and a runc started right after another
 * runc does not: that is most of bare runc's "warm" advantage in the bench's back-to-back rows.
 *
 * `warmCgroupMigration()` has cm move itself into the cgroup it already is in (a no-op move:
 * nothing changes for any process) on the thread pool, just before it spawns the runtime: the
 * grace period then runs while runc starts up, and runc's own move finds the rwsem in writer
 * mode. Measured from rest, as root: `cm exec` 59 -> 47 ms, `runc exec` alone 26-29 ms.
 * The kernel's `favordynmods` cgroup mount option makes the rwsem stay in writer mode for good
 * (Linux 6.0+); systemd does not set it, and cm does not change the host's mounts.
 *
 * Best effort and never in the way: it does nothing where cm may not write its own cgroup's
 * `cgroup.procs` (an ordinary user's login session, the v1 hierarchies rootless), every error is
 * ignored, and it writes only after reading cm's own pid in that very `cgroup.procs`, so a
 * `/sys/fs/cgroup` that is not this process's view of its cgroups (a cgroup namespace with the
 * host's hierarchy bind-mounted) can never move cm anywhere.
 */
import { accessSync, close, constants, open, read, readFileSync, write } from "node:fs";

/**
 * The `cgroup.procs` of this process's own cgroup, from /proc/self/cgroup's text (cgroups(7)
 * "/proc/[pid]/cgroup": `hierarchy-ID:controllers:path` a line): on a pure v2 host (its only line
 * is `0::/path`) `/sys/fs/cgroup/path/cgroup.procs`; on a v1 or hybrid host the pids hierarchy's,
 * else the unified one's under /sys/fs/cgroup/unified. undefined when there is none, or a path is
 * not absolute or has a `.` or `..` segment. `root` is prefixed (tests).
 */
export function ownCgroupProcs(procSelfCgroup: string, root = ""): string | undefined {
  const lines = procSelfCgroup.split("\n").filter((l) => l !== "");
  const at = (prefix: string, mount: string) => {
    const line = lines.find((l) => l.slice(l.indexOf(":") + 1).startsWith(prefix));
    if (line === undefined) return undefined;
    const path = line.slice(line.indexOf(":") + 1 + prefix.length);
    if (!path.startsWith("/") || path.split("/").some((s) => s === "." || s === "..")) return undefined;
    return `${root}${mount}${path === "/" ? "" : path}/cgroup.procs`;
  };
  if (lines.length === 1) return at(":", "/sys/fs/cgroup");
  return at("pids:", "/sys/fs/cgroup/pids") ?? at(":", "/sys/fs/cgroup/unified");
}

/**
 * How much of a `cgroup.procs` is read to find cm's pid in it: a pid a line, so ~9,000 processes
 * (the root cgroup lists every process); beyond it cm does not write.
 */
const READ_LIMIT = 64 * 1024;

/** How often the no-op move is made again while the runtime starts: well inside one grace period (~3 ms at HZ=1000, ~10 ms here). */
const INTERVAL_MS = 2;
/** The longest the rwsem is kept in writer mode for one runtime start. */
const LIMIT_MS = 200;

export interface WarmOptions {
  /** true once the runtime has made its move (its pid file exists, or it has ended): the warming stops */
  until?: (() => boolean) | undefined;
  /** prefixed to /proc and /sys (tests) */
  root?: string | undefined;
  /** called once at the end with how many times cm wrote its pid (tests) */
  done?: ((writes: number) => void) | undefined;
}

/**
 * Fire and forget (see the module's comment): opens cm's own `cgroup.procs`, reads it, and when
 * cm's pid is listed writes it back, then again every INTERVAL_MS until `until()` holds (at most
 * LIMIT_MS), so the rwsem is in writer mode whenever the runtime makes its move. Returns at once:
 * the I/O runs on libuv's thread pool, so the grace period costs the caller nothing, and its
 * timer does not keep the process alive.
 */
export function warmCgroupMigration(opts: WarmOptions = {}): void {
  const root = opts.root ?? "";
  const done = opts.done ?? (() => {});
  const own = () => {
    try {
      return readFileSync(`${root}/proc/self/cgroup`, "latin1");
    } catch {
      return undefined;
    }
  };
  const cgroups = own();
  const target = cgroups === undefined ? undefined : ownCgroupProcs(cgroups, root);
  // where cm may not write (rootless, mostly) it stops here, before the thread pool is started
  if (target === undefined || !writable(target)) {
    done(0);
    return;
  }
  const pid = String(process.pid);
  const started = Date.now();
  open(target, constants.O_RDWR | constants.O_NOFOLLOW, (err, fd) => {
    if (err) return done(0);
    let writes = 0;
    const finish = () => close(fd, () => done(writes));
    const again = () => {
      // moved meanwhile by someone else: cm does not move itself back
      if (writes > 0 && own() !== cgroups) return finish();
      write(fd, pid, (werr) => {
        if (werr) return finish();
        writes++;
        if (opts.until?.() !== false || Date.now() - started >= LIMIT_MS) return finish();
        setTimeout(again, INTERVAL_MS).unref();
      });
    };
    // a cgroup file gives at most a page a read: read on to the end (or READ_LIMIT)
    const buffer = Buffer.allocUnsafe(READ_LIMIT);
    const readOn = (length: number) => {
      read(fd, buffer, length, READ_LIMIT - length, null, (rerr, n) => {
        if (rerr) return finish();
        if (n > 0 && length + n < READ_LIMIT) return readOn(length + n);
        if (
          !buffer
            .toString("latin1", 0, length + n)
            .split("\n")
            .includes(pid)
        )
          return finish();
        again();
      });
    };
    readOn(0);
  });
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
