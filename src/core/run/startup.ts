/**
 * Why a command cannot start, and the exit status for it: decided before the runtime starts (from
 * the file's first bytes and the sizes of argv and the environment), or from the runtime's own
 * error when it failed anyway. Pure.
 *
 * Exit statuses as a POSIX shell gives them (and Docker, Podman): 127 when the command or its
 * interpreter is not found, 126 when it is found but cannot run (exec format error, argument list
 * too long, permission denied, a directory). Under the init (core/run/init.ts) these checks are the
 * only ones: tini would turn a missing interpreter into 127 with its own log line, and glibc's
 * execvp would run a file that is no executable format through /bin/sh.
 */
import { EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND } from "../../errors.ts";
import type { RuntimeKind } from "./runtime.ts";

/** How many leading bytes of a command classifyHeader needs: an ELF header or a `#!` line (Linux: BINPRM_BUF_SIZE 256). */
export const HEADER_BYTES = 256;

export type Header =
  /** an ELF executable; `interpreter` is its PT_INTERP (dynamic loader), when it has one */
  | { kind: "elf"; machine: number; interpreter?: string | undefined }
  /** a `#!` script and its interpreter (the first word after `#!`) */
  | { kind: "script"; interpreter: string }
  /** anything else: the kernel refuses it with ENOEXEC */
  | { kind: "unknown" };

/** ELF e_machine values for Node's process.arch (elf.h). */
export const ELF_MACHINE: Record<string, number> = { x64: 62, ia32: 3, arm64: 183, arm: 40, riscv64: 243, ppc64: 21, s390x: 22 };

/**
 * Classifies a file from its first bytes (up to HEADER_BYTES; more is ignored). For an ELF file
 * whose program headers are beyond `bytes`, `readAt(offset, length)` is asked for them (it returns
 * fewer bytes at the end of the file); without it the interpreter is not looked for.
 */
export function classifyHeader(bytes: Buffer, readAt?: (offset: number, length: number) => Buffer): Header {
  if (bytes.length >= 2 && bytes[0] === 0x23 && bytes[1] === 0x21) {
    // #!: the kernel takes the first line (at most BINPRM_BUF_SIZE), skips blanks, the interpreter ends at a blank
    const line = bytes.subarray(2, HEADER_BYTES).toString("latin1").split("\n")[0] ?? "";
    const interpreter = line.replace(/^[ \t]+/, "").split(/[ \t]/)[0] ?? "";
    return interpreter === "" ? { kind: "unknown" } : { kind: "script", interpreter };
  }
  if (bytes.length >= 20 && bytes[0] === 0x7f && bytes.toString("latin1", 1, 4) === "ELF") {
    const is64 = bytes[4] === 2;
    const le = bytes[5] === 1;
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (b: Buffer, o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(b, o));
    const machine = u16(bytes, 18);
    if (!readAt || bytes.length < (is64 ? 64 : 52)) return { kind: "elf", machine };
    const phoff = word(bytes, is64 ? 32 : 28);
    const phentsize = u16(bytes, is64 ? 54 : 42);
    const phnum = Math.min(u16(bytes, is64 ? 56 : 44), 256);
    if (phentsize < (is64 ? 56 : 32)) return { kind: "elf", machine };
    const table = readAt(phoff, phentsize * phnum);
    for (let i = 0; i < phnum && (i + 1) * phentsize <= table.length; i++) {
      const at = i * phentsize;
      if (u32(table, at) !== 3) continue; // PT_INTERP
      const offset = word(table, at + (is64 ? 8 : 4));
      const size = Math.min(word(table, at + (is64 ? 32 : 16)), 4096);
      const name = readAt(offset, size).toString("latin1").replace(/\0.*$/s, "");
      return { kind: "elf", machine, interpreter: name };
    }
    return { kind: "elf", machine };
  }
  return { kind: "unknown" };
}

/** The kernel's limit on one argument or environment string, NUL included (MAX_ARG_STRLEN, 32 pages). */
export const MAX_ARG_STRLEN = 32 * 4096;
/** The smallest total the kernel allows whatever the stack limit (ARG_MAX). */
const MIN_ARG_MAX = 32 * 4096;
/** _STK_LIM: the kernel caps the total at 3/4 of it (fs/exec.c). */
const STK_LIM = 8 * 1024 * 1024;

/**
 * Whether argv and the environment fit what execve accepts (fs/exec.c: each string at most
 * MAX_ARG_STRLEN, their bytes plus one pointer each at most a quarter of the stack limit, within
 * [ARG_MAX, 3/4 of _STK_LIM]). `stackSoft` is the container's RLIMIT_STACK soft limit in bytes
 * (Infinity for unlimited). Returns the reason when it does not fit.
 */
export function argvTooLong(args: readonly string[], env: readonly string[], stackSoft: number): string | undefined {
  let total = 0;
  for (const s of [...args, ...env]) {
    const n = Buffer.byteLength(s) + 1;
    if (n > MAX_ARG_STRLEN) {
      return `one ${args.includes(s) ? "argument" : "environment variable"} is ${n} bytes, over the kernel's ${MAX_ARG_STRLEN}`;
    }
    total += n + 8;
  }
  const limit = Math.max(MIN_ARG_MAX, Math.min(stackSoft / 4, (STK_LIM / 4) * 3));
  if (total > limit)
    return `the arguments and environment take ${total} bytes, over the kernel's ${Math.floor(limit)} (a quarter of the stack limit)`;
  return undefined;
}

/** A command that cannot start: the one-line reason and the exit status. */
export interface StartFailure {
  status: typeof EXIT_NOT_FOUND | typeof EXIT_NOT_EXECUTABLE;
  reason: string;
}

/**
 * The cause of a runtime's failed start, from its error messages (runc's and crun's JSON log
 * `msg` fields, or text lines). runc words an exec failure as
 * `... exec: "/x": permission denied`, `... exec: "/x": stat /x: no such file or directory`,
 * `exec /x: exec format error`, `exec /x: argument list too long`. Undefined when the failure is
 * not about starting the command (the caller reports it as the runtime's own, 125).
 */
export function startFailureFromRuntime(messages: readonly string[]): StartFailure | undefined {
  for (const msg of messages) {
    const m =
      /exec(?:: "([^"]*)"|\s+(\S+?)):\s+(?:.*:\s+)?(no such file or directory|permission denied|exec format error|argument list too long|is a directory|not a directory|executable file not found in \$PATH)\s*$/i.exec(
        msg,
      );
    if (!m) continue;
    const what = m[1] ?? m[2] ?? "the command";
    const cause = (m[3] as string).toLowerCase();
    if (cause === "no such file or directory" || cause.startsWith("executable file not found") || cause === "not a directory") {
      return { status: EXIT_NOT_FOUND, reason: `${what}: not found` };
    }
    if (cause === "exec format error")
      return { status: EXIT_NOT_EXECUTABLE, reason: `${what}: exec format error (not an executable for this machine, and no #! line)` };
    if (cause === "argument list too long")
      return {
        status: EXIT_NOT_EXECUTABLE,
        reason: `${what}: argument list too long (the arguments and environment are over the kernel's limit)`,
      };
    if (cause === "is a directory") return { status: EXIT_NOT_EXECUTABLE, reason: `${what}: is a directory` };
    return { status: EXIT_NOT_EXECUTABLE, reason: `${what}: permission denied` };
  }
  return undefined;
}

/**
 * The `msg` of each line of a runtime's JSON log (`runc --log FILE --log-format json`); lines that
 * are not JSON are kept as they are. Only error and fatal levels: runc logs warnings there too.
 */
export function runtimeLogMessages(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (t === "") continue;
    try {
      const v = JSON.parse(t) as { level?: string; msg?: string };
      if (typeof v.msg === "string" && (v.level === undefined || v.level === "error" || v.level === "fatal")) out.push(v.msg);
    } catch {
      out.push(t);
    }
  }
  return out;
}

/** A runtime error message for one `cm:` line: runc's prefixes dropped ("runc run failed: unable to start container process: "). */
export function shortRuntimeMessage(msg: string): string {
  return msg.replace(/^(runc|crun|runsc)(?: \w+)? failed: /, "").replace(/^unable to start container process: /, "");
}

/** runc's nsexec (the C part of `runc init`) prefixes its fatal lines with its pid: `nsexec[1234]: `, `nsexec-1[1234]: `. */
const NSEXEC = /^nsexec(?:-\d+)?\[\d+\]: /;

/**
 * The runtime's error for one `cm:` line, from its error messages (runtimeLogMessages): the
 * cause. When runc's nsexec failed, runc's last line says only that its child went away
 * ("waiting for init preliminary setup: read init-p: connection reset by peer"); nsexec's own
 * fatal line before it says why.
 */
export function runtimeCause(messages: readonly string[]): string | undefined {
  const nsexec = messages.find((m) => NSEXEC.test(m));
  if (nsexec) return nsexec.replace(NSEXEC, "nsexec: ");
  const last = messages[messages.length - 1];
  return last === undefined ? undefined : shortRuntimeMessage(last);
}

/**
 * A start failure of the runtime that passes: it failed before the container's process existed,
 * for a reason gone a moment later, so the same start can be made again. The one known: runc 1.1's
 * nsexec first copies the runc binary into a memfd and seals it (against CVE-2019-5736), and the
 * kernel refuses the write seal with EBUSY (memfd_wait_for_pins) when, after waiting 150 ms, it
 * still counts a page of the fresh copy as in use (held in another CPU's LRU batch after the copy
 * moved CPUs): about once in 5,000 rootless runs on a busy 2-core machine. runc then exits 1 with
 * "read init-p: connection reset by peer". The cause (runtimeCause), or undefined.
 */
export function transientRuntimeFailure(messages: readonly string[]): string | undefined {
  const m = messages.find((msg) => /cloned binary|F_ADD_SEALS/i.test(msg) && /device or resource busy/i.test(msg));
  return m === undefined ? undefined : m.replace(NSEXEC, "nsexec: ");
}

/** The runtime's JSON log in the run directory (actions/machine.ts reads it). */
export const RUNTIME_LOG = "runtime.log";

/**
 * Global runtime flags that send its errors to `<dir>/runtime.log` as JSON (runc, crun), so that
 * no `time=... level=error` line reaches the terminal: cm reads them and says what failed. runsc's
 * --log is its debug log: left alone.
 */
export function runtimeLogFlags(kind: RuntimeKind, dir: string): string[] {
  return kind === "runsc" ? [] : ["--log", `${dir}/${RUNTIME_LOG}`, "--log-format", "json"];
}
