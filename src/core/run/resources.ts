/** `--cpus N` and `--pids-limit N`: text -> the numbers runc takes. Pure. */
import { CmError } from "../../errors.ts";

/** The CFS period cm uses (100 ms, as docker does); the quota is cpus * period. */
export const CPU_PERIOD = 100_000;
/** The kernel refuses a CFS quota under 1 ms. */
const MIN_QUOTA = 1000;

export interface CpuLimit {
  quota: number;
  period: number;
}

/** "1.5" -> 1.5: a non-negative decimal number (no sign, no exponent). */
export function parseCpus(text: string): number {
  if (!/^(\d+(\.\d*)?|\.\d+)$/.test(text)) {
    throw new CmError("bad-cpus", `invalid --cpus ${JSON.stringify(text)}`, {
      hint: "give a number of CPUs, fractions allowed: 0.5, 1, 1.5",
    });
  }
  return Number(text);
}

/** 1.5 -> { quota: 150000, period: 100000 }; at most `hostCpus` (a limit above it means nothing). */
export function cpuLimit(cpus: number, hostCpus: number): CpuLimit {
  const text = String(cpus);
  if (!Number.isFinite(cpus) || cpus <= 0) {
    throw new CmError("bad-cpus", `invalid --cpus ${text}`, { hint: "give a number of CPUs above 0, fractions allowed: 0.5, 1, 1.5" });
  }
  const quota = Math.round(cpus * CPU_PERIOD);
  if (quota < MIN_QUOTA) {
    throw new CmError("bad-cpus", `--cpus ${text} is too small`, { hint: "give 0.01 or more" });
  }
  if (cpus > hostCpus) {
    throw new CmError("bad-cpus", `--cpus ${text} is more than this host's ${hostCpus} CPUs`, { hint: `give at most ${hostCpus}` });
  }
  return { quota, period: CPU_PERIOD };
}

/** A positive whole number of processes (threads count too). */
export function parsePidsLimit(text: string): number {
  return checkPidsLimit(/^\d+$/.test(text) ? Number(text) : Number.NaN, "--pids-limit", text);
}

/** `label` names the value in the message: the flag, or "value" for a cm.toml key (which names itself). */
export function checkPidsLimit(n: number, label = "--pids-limit", text = String(n)): number {
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new CmError("bad-pids-limit", `invalid ${label} ${JSON.stringify(text)}`, {
      hint: "give a whole number of processes, 1 or more",
    });
  }
  return n;
}

/** `-w DIR`: absolute and normalised. `label` as for checkPidsLimit. */
export function parseWorkdir(text: string, label = "--workdir"): string {
  if (!text.startsWith("/") || text.includes("\0") || text.split("/").some((p) => p === "." || p === "..")) {
    throw new CmError("bad-workdir", `invalid ${label} ${JSON.stringify(text)}: not an absolute path`, {
      hint: "give an absolute path inside the container, for example /project/src",
    });
  }
  return text.replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
}

export type Network = "host" | "none";

/** `--network MODE`: host or none. `label` as for checkPidsLimit. */
export function parseNetwork(text: string, label = "--network"): Network {
  if (text === "host" || text === "none") return text;
  throw new CmError("bad-network", `invalid ${label} ${JSON.stringify(text)}`, {
    hint: "host (the host's network, the default) or none (a private network with loopback only)",
  });
}
