/**
 * Extended attributes from tar archives (pax `SCHILY.xattr.*` / `LIBARCHIVE.xattr.*` records, read
 * by reader.ts), most importantly file capabilities (`security.capability`, e.g. ping's
 * cap_net_raw). Node has no setxattr, so they are set with `setfattr --restore=-` (package attr):
 * one spawn per batch of up to 64 files, never one per file.
 *
 * Which attributes are set (a design decision, see ARCHITECTURE.md):
 *   - `security.capability` as root. Rootless it is skipped and counted: an ordinary user cannot set
 *     it outside a user namespace (the kernel wants CAP_SETFCAP), and a container needs it only
 *     for the capability it grants, which cm's default capability set leaves out anyway for the
 *     usual case (NET_RAW).
 *   - `user.*`, as root and rootless (an ordinary user may set them on its own files).
 *   - nothing else: `security.selinux` and other LSM labels are the host policy's to set,
 *     `trusted.*` is for privileged host software (overlayfs keeps its whiteouts there: an image
 *     must not plant them), `system.*` are ACLs (not extracted by cm). These are ignored, quietly.
 * Safety: setfattr is never given a path. The extractor passes the file descriptor it wrote the
 * file through (opened O_EXCL|O_NOFOLLOW; a directory O_NOFOLLOW) as one of setfattr's inherited
 * descriptors and names it `/proc/self/fd/N`, so no symlink planted later in the archive, and no
 * path outside the root, can be reached. Names are checked (printable, no `=`), values passed
 * base64 (`0s…`), the input on stdin, the arguments an argv array.
 */

import { spawnSync } from "node:child_process";
import { closeSync } from "node:fs";
import { findTool } from "../host/tools.ts";

export interface XattrReport {
  /** files and directories whose attributes were set */
  applied: number;
  /** `security.capability` attributes not set because cm runs as an ordinary user */
  capsRootless: number;
  /** attributes not set because setfattr is not installed */
  noTool: number;
  /** files whose attributes setfattr could not set (file system without xattrs, …), and its first message */
  failed: number;
  failure?: string | undefined;
  /** attributes of namespaces cm does not set (security.selinux, trusted.*, system.*, bad names) */
  ignored: number;
}

export function emptyReport(): XattrReport {
  return { applied: 0, capsRootless: 0, noTool: 0, failed: 0, ignored: 0 };
}

/** Pure: `a` plus `b` (layers of one image). */
export function addReport(a: XattrReport, b: XattrReport): XattrReport {
  return {
    applied: a.applied + b.applied,
    capsRootless: a.capsRootless + b.capsRootless,
    noTool: a.noTool + b.noTool,
    failed: a.failed + b.failed,
    failure: a.failure ?? b.failure,
    ignored: a.ignored + b.ignored,
  };
}

const CAPABILITY = "security.capability";
const NAME = /^[A-Za-z0-9_.@+:-]+$/;

export type Verdict = "apply" | "rootless" | "ignore";

/** Pure: what to do with attribute `name` (see the header). */
export function verdict(name: string, rootless: boolean): Verdict {
  if (name.length > 255 || !NAME.test(name)) return "ignore";
  if (name === CAPABILITY) return rootless ? "rootless" : "apply";
  if (name.startsWith("user.") && name.length > 5) return "apply";
  return "ignore";
}

/** Pure: setfattr's --restore input for `files` (attribute lists), descriptor i named /proc/self/fd/(3+i). */
export function restoreInput(files: [string, Buffer][][]): string {
  return files
    .map((attrs, i) => `# file: /proc/self/fd/${3 + i}\n${attrs.map(([n, v]) => `${n}=0s${v.toString("base64")}\n`).join("")}`)
    .join("\n");
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Pure: the note for the final line ("(…)"), or undefined when there is nothing to say. */
export function xattrNote(r: XattrReport): string | undefined {
  const parts: string[] = [];
  if (r.capsRootless > 0)
    parts.push(
      `${plural(r.capsRootless, "file capability", "file capabilities")} not applied: an ordinary user cannot set security.capability (create as root to keep them)`,
    );
  if (r.noTool > 0)
    parts.push(`${plural(r.noTool, "extended attribute", "extended attributes")} not applied: setfattr is missing (apt-get install attr)`);
  if (r.failed > 0)
    parts.push(`extended attributes of ${plural(r.failed, "file", "files")} could not be set: ${r.failure ?? "setfattr failed"}`);
  return parts.length ? `(${parts.join("; ")})` : undefined;
}

const BATCH = 64;

/** Collects (descriptor, attributes) pairs from one extraction and sets them in batches. */
export class XattrWriter {
  readonly report = emptyReport();
  private readonly rootless: boolean;
  private tool: string | null | undefined;
  private fds: number[] = [];
  private files: [string, Buffer][][] = [];

  /** `tool`: setfattr's path, null for "not installed" (tests); looked up when first needed by default. */
  constructor(rootless: boolean, tool?: string | null) {
    this.rootless = rootless;
    this.tool = tool;
  }

  /**
   * The attributes of `xattrs` that can be set (counting the others): empty when there is
   * nothing to do, so that the caller opens no descriptor for them.
   */
  select(xattrs: Map<string, Buffer>): [string, Buffer][] {
    const attrs: [string, Buffer][] = [];
    for (const [name, value] of xattrs) {
      const v = verdict(name, this.rootless);
      if (v === "ignore") this.report.ignored++;
      else if (v === "rootless") this.report.capsRootless++;
      else attrs.push([name, value]);
    }
    if (attrs.length === 0) return attrs;
    if (this.tool === undefined) this.tool = findTool("setfattr") ?? null;
    if (this.tool === null) {
      this.report.noTool += attrs.length;
      return [];
    }
    return attrs;
  }

  /** Sets `attrs` (from select(), not empty) on the file or directory open as `fd`, later; takes the descriptor (closes it). */
  take(fd: number, attrs: [string, Buffer][]): void {
    this.fds.push(fd);
    this.files.push(attrs);
    if (this.fds.length >= BATCH) this.flush();
  }

  /** Sets what was collected; closes the descriptors. */
  flush(): void {
    if (this.fds.length === 0) return;
    const fds = this.fds;
    const files = this.files;
    this.fds = [];
    this.files = [];
    try {
      const r = spawnSync(this.tool as string, ["--restore=-"], {
        input: restoreInput(files),
        stdio: ["pipe", "ignore", "pipe", ...fds],
        encoding: "utf8",
      });
      const errors = r.error ? [`setfattr: ${r.error.message}`] : (r.stderr ?? "").split("\n").filter((l) => l.trim() !== "");
      const failedFds = new Set(errors.map((l) => /\/proc\/self\/fd\/(\d+)/.exec(l)?.[1]).filter((n) => n !== undefined));
      const failed = r.error || (r.status !== 0 && failedFds.size === 0) ? files.length : failedFds.size;
      this.report.applied += files.length - failed;
      this.report.failed += failed;
      if (failed > 0) this.report.failure ??= (errors[0] ?? `setfattr exited with ${r.status}`).replace(/\/proc\/self\/fd\/\d+: /, "");
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** Closes the descriptors without setting anything (the extraction failed). */
  abandon(): void {
    for (const fd of this.fds) closeSync(fd);
    this.fds = [];
    this.files = [];
  }
}
