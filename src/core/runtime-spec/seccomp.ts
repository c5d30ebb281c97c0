/**
 * cm's default seccomp profile, as data: allow by default, and fail with an errno the system calls
 * that container engines (Docker's and Podman's default profiles) keep from containers. Every group
 * says why; SECURITY.md carries the same table. Pure: the architecture comes in as an argument.
 *
 * Why allow-by-default with a deny list instead of Docker's allow list: the allow list must grow
 * with every kernel (a new syscall is EPERM until the profile learns it, which breaks new libcs),
 * while what is dangerous is a short, stable family. The deny list is explicit and tested.
 *
 * Two rules of runc 1.1 shape how argument filters are written here: several conditions in one
 * entry are ANDed, but several conditions on the same argument are split into separate rules
 * (ORed). So every entry below has at most one condition, and "flag set" is SCMP_CMP_MASKED_EQ
 * with value = valueTwo = the flag.
 */
import { CmError } from "../../errors.ts";
import type { Seccomp, SeccompSyscall } from "./types.ts";

export const EPERM = 1;
export const ENOSYS = 38;

export interface DenyGroup {
  /** what the group is, for the documentation table */
  group: string;
  syscalls: string[];
  /** why a container does not get them */
  reason: string;
}

/** Denied outright with EPERM (whatever their arguments). */
export const DENIED: DenyGroup[] = [
  {
    group: "kernel keyring",
    syscalls: ["add_key", "keyctl", "request_key"],
    reason: "the keyring is not namespaced: keys of the host and of other containers could be reached",
  },
  {
    group: "eBPF, perf, userfaultfd",
    syscalls: ["bpf", "perf_event_open", "userfaultfd"],
    reason: "large kernel attack surface, a common source of privilege-escalation exploits; perf also reads host-wide data",
  },
  {
    group: "io_uring",
    syscalls: ["io_uring_setup", "io_uring_enter", "io_uring_register"],
    reason: "a second system call interface that bypasses seccomp argument checks and had many kernel bugs (Docker 25+ blocks it too)",
  },
  {
    group: "kernel modules",
    syscalls: ["init_module", "finit_module", "delete_module", "create_module", "query_module", "get_kernel_syms"],
    reason: "loading code into the host kernel",
  },
  {
    group: "kexec and reboot",
    syscalls: ["kexec_load", "kexec_file_load", "reboot"],
    reason: "replacing or restarting the host kernel",
  },
  {
    group: "file handles",
    syscalls: ["open_by_handle_at", "name_to_handle_at"],
    reason: "open_by_handle_at opens files by inode outside the container's root (the 'shocker' escape)",
  },
  {
    group: "clock and time setting",
    syscalls: ["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64", "adjtimex"],
    reason: "the clock is not namespaced: setting it changes the host's time (adjtimex is denied whole, read-only use included)",
  },
  {
    group: "namespaces: joining",
    syscalls: ["setns"],
    reason: "joining other namespaces from inside; cm sets up the container's namespaces itself",
  },
  {
    group: "mounts",
    syscalls: [
      "mount",
      "umount",
      "umount2",
      "pivot_root",
      "fsopen",
      "fsconfig",
      "fsmount",
      "fspick",
      "move_mount",
      "open_tree",
      "mount_setattr",
    ],
    reason:
      "changing the mount table could uncover masked paths or reach host filesystems (also needs CAP_SYS_ADMIN, which cm never grants)",
  },
  {
    group: "swap, accounting, quotas",
    syscalls: ["swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "nfsservctl", "lookup_dcookie"],
    reason: "host-wide resources and kernel interfaces no container needs",
  },
  {
    group: "obsolete and host-wide interfaces",
    syscalls: ["sysfs", "_sysctl", "uselib", "ustat", "vhangup", "syslog", "fanotify_init"],
    reason: "legacy or host-wide interfaces (kernel log, terminal hang-up of the host, filesystem-wide watches)",
  },
  {
    group: "raw I/O ports, vm86",
    syscalls: ["iopl", "ioperm", "vm86", "vm86old"],
    reason: "direct hardware port access (x86), virtual 8086 mode",
  },
];

/**
 * Namespace flags: clone and unshare fail with EPERM when any of these is set. clone's low byte
 * is the exit signal, so CLONE_NEWTIME (0x80) is only checked for unshare.
 */
export const NAMESPACE_FLAGS: Record<string, number> = {
  CLONE_NEWNS: 0x00020000,
  CLONE_NEWCGROUP: 0x02000000,
  CLONE_NEWUTS: 0x04000000,
  CLONE_NEWIPC: 0x08000000,
  CLONE_NEWUSER: 0x10000000,
  CLONE_NEWPID: 0x20000000,
  CLONE_NEWNET: 0x40000000,
};
export const CLONE_NEWTIME = 0x00000080;

/** personality(2) flags that weaken the process: ASLR off, data executable. */
export const PERSONALITY_FLAGS: Record<string, number> = {
  ADDR_NO_RANDOMIZE: 0x0040000,
  READ_IMPLIES_EXEC: 0x0400000,
};
/** personality(0xffffffff) only queries the current persona and must keep working. */
export const PERSONALITY_QUERY = 0xffffffff;

/** seccomp architectures per machine (Node's process.arch): the native ABI and its 32-bit ones. */
export const ARCHITECTURES: Record<string, string[]> = {
  x64: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  arm64: ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"],
};

function flagSet(name: string, flag: number): SeccompSyscall {
  return {
    names: [name],
    action: "SCMP_ACT_ERRNO",
    errnoRet: EPERM,
    args: [{ index: 0, value: flag, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }],
  };
}

/**
 * "flag set, and the value is not the query 0xffffffff": for every other bit b of the low 32, one
 * rule "flag set and b clear". Any value other than 0xffffffff with the flag set has some clear bit.
 */
function personalityRules(flag: number): SeccompSyscall[] {
  const out: SeccompSyscall[] = [];
  for (let bit = 0; bit < 32; bit++) {
    const b = 2 ** bit;
    if (b === flag) continue;
    out.push({
      names: ["personality"],
      action: "SCMP_ACT_ERRNO",
      errnoRet: EPERM,
      args: [{ index: 0, value: flag + b, valueTwo: flag, op: "SCMP_CMP_MASKED_EQ" }],
    });
  }
  return out;
}

/** The default profile for a machine architecture (Node's process.arch); undefined if cm has none for it. */
export function defaultSeccomp(arch: string): Seccomp | undefined {
  const architectures = ARCHITECTURES[arch];
  if (!architectures) return undefined;
  const syscalls: SeccompSyscall[] = DENIED.map((g) => ({ names: [...g.syscalls], action: "SCMP_ACT_ERRNO", errnoRet: EPERM }));
  // clone3 passes its flags in a struct that seccomp cannot read: ENOSYS makes libc fall back to clone.
  syscalls.push({ names: ["clone3"], action: "SCMP_ACT_ERRNO", errnoRet: ENOSYS });
  for (const flag of Object.values(NAMESPACE_FLAGS)) {
    syscalls.push(flagSet("clone", flag), flagSet("unshare", flag));
  }
  syscalls.push(flagSet("unshare", CLONE_NEWTIME));
  for (const flag of Object.values(PERSONALITY_FLAGS)) syscalls.push(...personalityRules(flag));
  return { defaultAction: "SCMP_ACT_ALLOW", architectures: [...architectures], syscalls };
}

/** Every syscall name the default profile denies in some form (for docs and tests). */
export function deniedNames(profile: Seccomp): string[] {
  return [...new Set((profile.syscalls ?? []).flatMap((s) => s.names))].sort();
}

// ---- validation of a user-supplied profile (--security-opt seccomp=FILE) ----

const ACTIONS = new Set([
  "SCMP_ACT_KILL",
  "SCMP_ACT_KILL_PROCESS",
  "SCMP_ACT_KILL_THREAD",
  "SCMP_ACT_TRAP",
  "SCMP_ACT_ERRNO",
  "SCMP_ACT_TRACE",
  "SCMP_ACT_ALLOW",
  "SCMP_ACT_LOG",
  "SCMP_ACT_NOTIFY",
]);
const OPS = new Set(["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]);
const ARCH = /^SCMP_ARCH_[A-Z0-9_]+$/;
const SYSCALL_NAME = /^[a-z_][a-z0-9_]*$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isUint(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Checks the shape of an OCI `linux.seccomp` object (as runc 1.1 reads it) and returns it.
 * Throws a CmError naming the first problem, prefixed by `what` (e.g. the file name).
 */
export function parseSeccompProfile(value: unknown, what: string): Seccomp {
  const bad = (problem: string) =>
    new CmError("bad-seccomp", `${what}: ${problem}`, {
      hint: "give an OCI linux.seccomp object: {defaultAction, architectures?, syscalls?: [{names, action, errnoRet?, args?}]}",
    });
  if (!isObject(value)) throw bad("not a JSON object");
  if ("archMap" in value) throw bad("a Docker-format profile (archMap): cm takes the OCI linux.seccomp form");
  for (const key of Object.keys(value)) {
    if (!["defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls", "listenerPath", "listenerMetadata"].includes(key)) {
      throw bad(`unknown field ${JSON.stringify(key)}`);
    }
  }
  if (typeof value.defaultAction !== "string" || !ACTIONS.has(value.defaultAction)) {
    throw bad(`defaultAction must be one of ${[...ACTIONS].join(", ")}`);
  }
  if (value.defaultAction === "SCMP_ACT_NOTIFY") throw bad("SCMP_ACT_NOTIFY needs a listener, which cm does not run");
  if (value.defaultErrnoRet !== undefined && !isUint(value.defaultErrnoRet)) throw bad("defaultErrnoRet must be a non-negative integer");
  if (value.architectures !== undefined) {
    if (!Array.isArray(value.architectures) || !value.architectures.every((a) => typeof a === "string" && ARCH.test(a))) {
      throw bad("architectures must be a list of SCMP_ARCH_* names");
    }
  }
  if (value.flags !== undefined && (!Array.isArray(value.flags) || !value.flags.every((f) => typeof f === "string"))) {
    throw bad("flags must be a list of strings");
  }
  if (value.syscalls !== undefined) {
    if (!Array.isArray(value.syscalls)) throw bad("syscalls must be a list");
    value.syscalls.forEach((s: unknown, i: number) => {
      const at = `syscalls[${i}]`;
      if (!isObject(s)) throw bad(`${at} is not an object`);
      for (const key of Object.keys(s)) {
        if (!["names", "action", "errnoRet", "args", "comment"].includes(key)) {
          throw bad(
            `${at}: unknown field ${JSON.stringify(key)}${key === "includes" || key === "excludes" ? " (a Docker-format profile: cm takes the OCI form)" : ""}`,
          );
        }
      }
      if (!Array.isArray(s.names) || s.names.length === 0 || !s.names.every((n) => typeof n === "string" && SYSCALL_NAME.test(n))) {
        throw bad(`${at}.names must be a non-empty list of syscall names`);
      }
      if (typeof s.action !== "string" || !ACTIONS.has(s.action)) throw bad(`${at}.action must be one of ${[...ACTIONS].join(", ")}`);
      if (s.action === "SCMP_ACT_NOTIFY") throw bad(`${at}: SCMP_ACT_NOTIFY needs a listener, which cm does not run`);
      if (s.errnoRet !== undefined && !isUint(s.errnoRet)) throw bad(`${at}.errnoRet must be a non-negative integer`);
      if (s.args !== undefined) {
        if (!Array.isArray(s.args)) throw bad(`${at}.args must be a list`);
        s.args.forEach((a: unknown, j: number) => {
          const aat = `${at}.args[${j}]`;
          if (!isObject(a)) throw bad(`${aat} is not an object`);
          if (!isUint(a.index) || a.index > 5) throw bad(`${aat}.index must be 0-5`);
          if (!isUint(a.value)) throw bad(`${aat}.value must be a non-negative integer`);
          if (a.valueTwo !== undefined && !isUint(a.valueTwo)) throw bad(`${aat}.valueTwo must be a non-negative integer`);
          if (typeof a.op !== "string" || !OPS.has(a.op)) throw bad(`${aat}.op must be one of ${[...OPS].join(", ")}`);
        });
      }
    });
  }
  return value as unknown as Seccomp;
}
