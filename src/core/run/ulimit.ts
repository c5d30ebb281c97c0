/**
 * Resource limits (setrlimit) and the size of /dev/shm. Pure: the caller reads the limits text
 * (/proc/PID/limits) and the host's nr_open.
 *
 * A container gets the limits of the process that started cm (soft and hard), as Podman does
 * rootless, instead of runc's example spec's fixed RLIMIT_NOFILE 1024/1024; `--ulimit
 * NAME=SOFT[:HARD]` (Docker's names and syntax) changes one. Raising a hard limit needs
 * CAP_SYS_RESOURCE in the host's user namespace: rootless it is refused before starting (runc would
 * fail half-way), as root only RLIMIT_NOFILE has a ceiling (fs.nr_open).
 */
import { CmError } from "../../errors.ts";
import type { Transform } from "../runtime-spec/transforms.ts";
import type { Rlimit } from "../runtime-spec/types.ts";
import { parseSize } from "../size.ts";

/** Docker's `--ulimit` names and the OCI rlimit type of each, with /proc/PID/limits' row label. */
export const ULIMITS = {
  as: { type: "RLIMIT_AS", label: "Max address space" },
  core: { type: "RLIMIT_CORE", label: "Max core file size" },
  cpu: { type: "RLIMIT_CPU", label: "Max cpu time" },
  data: { type: "RLIMIT_DATA", label: "Max data size" },
  fsize: { type: "RLIMIT_FSIZE", label: "Max file size" },
  locks: { type: "RLIMIT_LOCKS", label: "Max file locks" },
  memlock: { type: "RLIMIT_MEMLOCK", label: "Max locked memory" },
  msgqueue: { type: "RLIMIT_MSGQUEUE", label: "Max msgqueue size" },
  nice: { type: "RLIMIT_NICE", label: "Max nice priority" },
  nofile: { type: "RLIMIT_NOFILE", label: "Max open files" },
  nproc: { type: "RLIMIT_NPROC", label: "Max processes" },
  rss: { type: "RLIMIT_RSS", label: "Max resident set" },
  rtprio: { type: "RLIMIT_RTPRIO", label: "Max realtime priority" },
  rttime: { type: "RLIMIT_RTTIME", label: "Max realtime timeout" },
  sigpending: { type: "RLIMIT_SIGPENDING", label: "Max pending signals" },
  stack: { type: "RLIMIT_STACK", label: "Max stack size" },
} as const;

export type UlimitName = keyof typeof ULIMITS;

/** RLIM_INFINITY: "unlimited". Written to config.json as 2^64-1 (core/spec specJson). */
export const UNLIMITED = Number.POSITIVE_INFINITY;

export interface Limit {
  soft: number;
  hard: number;
}

export type Limits = Partial<Record<UlimitName, Limit>>;

const NAMES = Object.keys(ULIMITS) as UlimitName[];

function isName(n: string): n is UlimitName {
  return Object.hasOwn(ULIMITS, n);
}

/** One value: a whole number, or `unlimited` / -1 (Docker's spelling of RLIM_INFINITY). */
function parseValue(text: string, whole: string, where: string): number {
  if (text === "unlimited" || text === "-1") return UNLIMITED;
  if (!/^\d{1,19}$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new CmError("bad-ulimit", `invalid ${where} ${JSON.stringify(whole)}: ${JSON.stringify(text)} is not a number`, {
      hint: "give NAME=SOFT[:HARD] with whole numbers or unlimited, for example nofile=4096:65536",
    });
  }
  return Number(text);
}

/**
 * `--ulimit NAME=SOFT[:HARD]` (Docker's syntax; HARD defaults to SOFT) -> [name, limit].
 * Errors: an unknown NAME, a value that is not a whole number or `unlimited`, SOFT above HARD.
 */
export function parseUlimit(text: string, where = "--ulimit"): [UlimitName, Limit] {
  const eq = text.indexOf("=");
  const name = eq < 0 ? text : text.slice(0, eq);
  if (!isName(name)) {
    throw new CmError("bad-ulimit", `invalid ${where} ${JSON.stringify(text)}: unknown limit ${JSON.stringify(name)}`, {
      hint: `use one of ${NAMES.join(", ")}`,
    });
  }
  if (eq < 0 || text.slice(eq + 1) === "") {
    throw new CmError("bad-ulimit", `invalid ${where} ${JSON.stringify(text)}: no value`, { hint: `give ${name}=SOFT[:HARD]` });
  }
  const [softText, hardText, ...rest] = text.slice(eq + 1).split(":");
  if (rest.length > 0) throw new CmError("bad-ulimit", `invalid ${where} ${JSON.stringify(text)}`, { hint: `give ${name}=SOFT[:HARD]` });
  const soft = parseValue(softText as string, text, where);
  const hard = hardText === undefined ? soft : parseValue(hardText, text, where);
  if (soft > hard) {
    throw new CmError("bad-ulimit", `invalid ${where} ${JSON.stringify(text)}: the soft limit is above the hard limit`, {
      hint: `give ${name}=SOFT:HARD with SOFT at most HARD`,
    });
  }
  return [name, { soft, hard }];
}

/** Several --ulimit values: a later one for the same name wins. */
export function parseUlimits(texts: readonly string[], where = "--ulimit"): Limits {
  const out: Limits = {};
  for (const t of texts) {
    const [name, limit] = parseUlimit(t, where);
    out[name] = limit;
  }
  return out;
}

/**
 * The text of /proc/PID/limits -> every limit it lists (by Docker's name). Rows it does not know
 * are skipped; "unlimited" is UNLIMITED.
 */
export function parseProcLimits(text: string): Limits {
  const out: Limits = {};
  for (const line of text.split("\n")) {
    for (const name of NAMES) {
      const label = ULIMITS[name].label;
      if (!line.startsWith(`${label} `)) continue;
      const [soft, hard] = line.slice(label.length).trim().split(/\s+/);
      const value = (v: string | undefined) => (v === "unlimited" ? UNLIMITED : Number(v));
      const s = value(soft);
      const h = value(hard);
      if (!Number.isNaN(s) && !Number.isNaN(h)) out[name] = { soft: s, hard: h };
    }
  }
  return out;
}

export interface UlimitFacts {
  /** the limits cm may set up to: its own (its hard limits are the user's) */
  own: Limits;
  /** the defaults: the limits of the process that started cm; absent: cm's own */
  invoker?: Limits | undefined;
  /** may raise hard limits (root, not in a user namespace of its own) */
  privileged: boolean;
  /** /proc/sys/fs/nr_open: the kernel's ceiling of RLIMIT_NOFILE */
  nrOpen?: number | undefined;
}

/**
 * The container's rlimits: the invoker's (each capped at cm's own hard limit), with `asked`
 * (--ulimit, cm.toml) over them. A value above what cm may set is refused here, naming the limit:
 * rootless any hard limit above the user's own; as root RLIMIT_NOFILE above fs.nr_open.
 */
export function resolveUlimits(asked: Limits, facts: UlimitFacts): Rlimit[] {
  const out: Rlimit[] = [];
  for (const name of NAMES) {
    const own = facts.own[name];
    const inv = facts.invoker?.[name] ?? own;
    const want = asked[name];
    if (want) {
      const flag = `--ulimit ${name}=${fmt(want.soft)}:${fmt(want.hard)}`;
      if (!facts.privileged && own && want.hard > own.hard) {
        throw new CmError("ulimit-too-high", `${flag}: above your hard limit of ${name} (${fmt(own.hard)})`, {
          hint: `give at most ${name}=${fmt(own.hard)}; only root can raise a hard limit`,
        });
      }
      if (name === "nofile" && facts.nrOpen !== undefined && want.hard > facts.nrOpen) {
        throw new CmError("ulimit-too-high", `${flag}: above the kernel's ceiling of nofile (fs.nr_open ${facts.nrOpen})`, {
          hint: `give at most nofile=${facts.nrOpen}`,
        });
      }
      out.push({ type: ULIMITS[name].type, soft: want.soft, hard: want.hard });
    } else if (inv && own) {
      const hard = Math.min(inv.hard, own.hard);
      out.push({ type: ULIMITS[name].type, soft: Math.min(inv.soft, hard), hard });
    }
  }
  return out;
}

/** Sets the process's rlimits (replacing the stored spec's). */
export function rlimits(list: readonly Rlimit[]): Transform {
  return (spec) => ({ ...spec, process: { ...spec.process, rlimits: list.map((r) => ({ ...r })) } });
}

/** The soft RLIMIT_STACK of a list of rlimits, in bytes (UNLIMITED when it is, 8 MiB when absent). */
export function stackSoft(list: readonly Rlimit[]): number {
  return list.find((r) => r.type === "RLIMIT_STACK")?.soft ?? 8 * 1024 * 1024;
}

function fmt(n: number): string {
  return n === UNLIMITED ? "unlimited" : String(n);
}

/** `--shm-size SIZE` (Docker's units, as --memory) -> bytes; more than 0. */
export function parseShmSize(text: string, where = "--shm-size"): number {
  return parseSize(text, where);
}

/** The size of the /dev/shm tmpfs, in bytes (rounded up to whole KiB, as the mount option takes it). */
export function shmSize(bytes: number): Transform {
  const kib = Math.ceil(bytes / 1024);
  return (spec) => ({
    ...spec,
    mounts: spec.mounts.map((m) =>
      m.destination === "/dev/shm" ? { ...m, options: [...(m.options ?? []).filter((o) => !o.startsWith("size=")), `size=${kib}k`] } : m,
    ),
  });
}
