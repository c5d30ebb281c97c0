/**
 * Names that reach paths, runc container IDs and hostnames. Pure functions only.
 *
 * Bundle names are chosen by the user and must already be safe: they are checked, never mapped.
 * Project names come from a directory name (any bytes a filesystem allows), so they are mapped
 * deterministically to a safe key:
 *   - a name matching SAFE_NAME is its own key ("my-app" -> "my-app");
 *   - any other name becomes "<slug>-<8 hex of sha256(name)>" where slug keeps [A-Za-z0-9._-] and
 *     replaces every other character by "_" ("my project" -> "my_project-<hash>", "café" -> "caf_-<hash>").
 * The hash keeps two different names from sharing a key; a bundle also records the real path of
 * its project, so even a deliberate collision is caught when the bundle is used.
 */
import { CmError } from "../errors.ts";

/** A Debian package name (Debian Policy 5.6.1: two or more of a-z 0-9 + . -, starting alphanumeric). */
export const DEBIAN_PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
/** A Debian suite or codename as cm accepts it in debian:SUITE (bookworm, stable, trixie-backports). */
export const DEBIAN_SUITE = /^[a-z][a-z0-9.-]{0,31}$/;

/** Letters, digits, '.', '_', '-'; starts with a letter or digit; at most 63 characters. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function checkBundleName(name: string): string {
  if (!SAFE_NAME.test(name)) {
    throw new CmError("bad-name", `invalid bundle name ${JSON.stringify(name)}`, {
      hint: "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
    });
  }
  return name;
}

/**
 * Checks a project name given explicitly (--project, or an argument of `cm delete`): it may be any
 * directory name, but not empty, ".", "..", or containing "/" or NUL, nor starting with "-" (it would
 * read as an option). A directory whose name starts with "-" is still a project: its key is mapped.
 */
export function checkProjectName(name: string): string {
  if (name.startsWith("-")) {
    throw new CmError("bad-name", `invalid project name ${JSON.stringify(name)}`, {
      hint: "a project name given on the command line cannot start with '-'; run cm from that directory instead",
    });
  }
  return checkDirName(name);
}

function checkDirName(name: string): string {
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new CmError("bad-name", `invalid project name ${JSON.stringify(name)}`, {
      hint: "a project name is a directory name: not empty, not '.' or '..', without '/'",
    });
  }
  return name;
}

/** The storage key of a project name: the name itself when safe, otherwise slug + short hash. */
export function projectKey(name: string): string {
  checkDirName(name);
  if (SAFE_NAME.test(name)) return name;
  // node:crypto, loaded only here (~3 ms, for names that need a hash): core/sha256.ts would put its
  // library's module set-up (~0.3 ms) on every command's start, since this module is on all of them.
  const { createHash } = process.getBuiltinModule("node:crypto");
  const hash = createHash("sha256").update(name, "utf8").digest("hex").slice(0, 8);
  let slug = name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "");
  slug = slug.slice(0, 40);
  return `${slug || "project"}-${hash}`;
}

/** A valid hostname (RFC 1123 label) derived from a project name. */
export function hostnameFor(name: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return label || "cm";
}

/** runc's rule for container IDs. */
export const CONTAINER_ID = /^[\w+.-]+$/;

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const UNSHOWABLE_G = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** Control characters but the tab, and bidirectional-text controls (see displayName). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is looked for
const CONTROLS_G = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A line of text, such as a file's content, as it is safe to show on a terminal: every control
 * character but the tab (C0, DEL, C1: U+009B acts as CSI on some terminals) and every
 * bidirectional-text control written as `\uXXXX`, so that text cannot move the cursor, erase
 * what was shown or reorder it (CVE-2021-42574, "Trojan Source").
 */
export function escapeControls(line: string): string {
  return line.replace(CONTROLS_G, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * A name as messages and tables show it: as it is, or quoted (JSON string syntax, with \uXXXX for
 * what JSON leaves raw) when it holds a control character (C0, DEL, C1: a newline, a terminal
 * escape sequence) or a bidirectional-text control, which could make a terminal show something
 * else than the name (a container chooses the names of its files).
 */
export function displayName(name: string): string {
  if (!UNSHOWABLE.test(name)) return name;
  return JSON.stringify(name).replace(UNSHOWABLE_G, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** "another cm (pid N)", or "another cm" when the pid cannot be told (-1, store/lock.ts): for messages. */
export function holder(pid: number): string {
  return pid > 0 ? `another cm (pid ${pid})` : "another cm";
}
