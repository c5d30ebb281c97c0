/**
 * The project file, `cm.toml` in the project directory: per-project defaults for `cm create` and
 * `cm run`, with per-bundle overrides. Pure: the caller reads the file and parses the TOML (with
 * smol-toml, loaded only when the file exists); this module turns the parsed document into typed,
 * validated defaults, finds the line of a bad key in the source text, and merges with flags.
 *
 *   [create]                 from, packages, install_recommends, post_create, http_proxy, host_ca,
 *                            allow_hosts (post_create's egress)
 *   [run]                    memory, env, env_file, volumes, network, runtime, command, entrypoint, cpus,
 *                            pids_limit, read_only, workdir, http_proxy, host_ca, init, ulimits, shm_size,
 *                            allow_hosts, review, ephemeral
 *   [bundle.NAME.create]     the same keys as [create], for bundle NAME only
 *   [bundle.NAME.run]        the same keys as [run], for bundle NAME only
 *
 * Precedence, lowest first: [create]/[run] < [bundle.NAME.*] < command-line flags. A key replaces
 * the value below it, except `env` (merged per variable) and `volumes` (merged per destination).
 */
import { isAbsolute, posix, resolve } from "node:path";
import { CmError } from "../errors.ts";
import { memoryTooSmall } from "./limits.ts";
import { DEBIAN_PACKAGE, DEBIAN_SUITE, SAFE_NAME } from "./names.ts";
import { parseAllowHost } from "./run/allowhost.ts";
import { checkPidsLimit, parseNetwork, parseWorkdir } from "./run/resources.ts";
import { checkRuntimeArg } from "./run/runtime.ts";
import { type Limits, parseShmSize, parseUlimit } from "./run/ulimit.ts";
import { parseVolume } from "./run/volume.ts";
import { parseSize } from "./size.ts";
import { parseUsernsMode, type UsernsMode } from "./userns.ts";

export const PROJECT_FILE = "cm.toml";

export interface CreateDefaults {
  /** rootfs source text; tar:/dir: paths made absolute against the project directory */
  from?: string;
  packages?: string[];
  /** false: a slim bundle, the packages without their Recommends (--no-install-recommends) */
  installRecommends?: boolean;
  /** shell command lines run inside the new bundle (sh -c) at the end of `cm create` */
  postCreate?: string[];
  /** rootless id mapping of new bundles (core/userns.ts); ignored as root */
  userns?: UsernsMode;
  /** post_create commands get the host's proxy variables (default true; --http-proxy) */
  httpProxy?: boolean;
  /** post_create commands trust the host's certificate authorities (--host-ca) */
  hostCa?: boolean;
  /** post_create's egress: only through cm's proxy, to these (as `cm run --allow-host`) */
  allowHosts?: string[];
}

export interface EnvEntry {
  name: string;
  /** undefined: taken from the host environment at run time (as `--env NAME`) */
  value: string | undefined;
}

export interface VolumeEntry {
  /** absolute host path (relative paths in the file are relative to the project directory) */
  source: string;
  destination: string;
  readOnly: boolean;
}

export interface RunDefaults {
  memoryBytes?: number;
  env?: EnvEntry[];
  /** absolute path of an env file (KEY=VALUE lines) */
  envFile?: string;
  volumes?: VolumeEntry[];
  network?: "host" | "none";
  runtime?: string;
  command?: string[];
  /** --entrypoint's value: one executable replacing the image's entrypoint; "" clears it */
  entrypoint?: string;
  cpus?: number;
  pidsLimit?: number;
  readOnly?: boolean;
  workdir?: string;
  /** pass the host's proxy variables (default true; --http-proxy) */
  httpProxy?: boolean;
  /** trust the host's certificate authorities (--host-ca) */
  hostCa?: boolean;
  /** run an init as PID 1 (default true) */
  init?: boolean;
  /** rlimits by Docker's name (`ulimits = { nofile = "4096:65536" }`), merged per name */
  ulimits?: Limits;
  /** size of /dev/shm in bytes */
  shmBytes?: number;
  /** --allow-host patterns, checked with its parser */
  allowHosts?: string[];
  review?: boolean;
  ephemeral?: boolean;
}

export interface Defaults {
  create: CreateDefaults;
  run: RunDefaults;
}

export interface ProjectFile extends Defaults {
  /** the file's path, for messages */
  path: string;
  /** its source text, for the line numbers of later errors (keyError) */
  text: string;
  bundles: Record<string, Defaults>;
}

/** A parsed TOML value, as smol-toml returns it. */
type Toml = unknown;

const CREATE_KEYS = ["from", "packages", "install_recommends", "post_create", "http_proxy", "host_ca", "allow_hosts", "userns"] as const;
const RUN_KEYS = [
  "memory",
  "env",
  "env_file",
  "volumes",
  "network",
  "runtime",
  "command",
  "entrypoint",
  "cpus",
  "pids_limit",
  "read_only",
  "workdir",
  "http_proxy",
  "host_ca",
  "init",
  "ulimits",
  "shm_size",
  "allow_hosts",
  "review",
  "ephemeral",
] as const;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Where a key is defined in the source text: line numbers (1-based) keyed by the dotted path
 * (array elements as "[n]": "run.volumes.[1]"). smol-toml reports lines only for syntax errors, so
 * this small scanner walks the (already valid) document: table headers, dotted and quoted keys,
 * inline tables, arrays spread over lines, all four kinds of strings, comments.
 */
export function keyLines(text: string): Map<string, number> {
  return new KeyScanner(text).scan();
}

const ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", b: "\b", f: "\f" };

/** The state of keyLines' walk: a position in the text and its line. */
class KeyScanner {
  private readonly lines = new Map<string, number>();
  private i = 0;
  private line = 1;
  private readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  scan(): Map<string, number> {
    let table: string[] = [];
    while (this.i < this.text.length) {
      const start = this.i;
      this.skipSpace(true);
      if (this.i >= this.text.length) break;
      if (this.peek() === "[") {
        const array = this.peek(1) === "[";
        this.i += array ? 2 : 1;
        table = this.recordKey([], this.readKey());
        this.i += array ? 2 : 1;
      } else {
        const key = this.recordKey(table, this.readKey());
        if (this.peek() === "=") this.advance();
        this.skipValue(key);
        this.skipSpace(false);
      }
      // never stuck on text this scanner does not understand (the document was valid TOML anyway)
      if (this.i === start) this.advance();
    }
    return this.lines;
  }

  private peek(n = 0): string {
    return this.text[this.i + n] ?? "";
  }

  private advance(): void {
    if (this.text[this.i] === "\n") this.line++;
    this.i++;
  }

  private record(path: string[]): void {
    const k = path.join(".");
    if (!this.lines.has(k)) this.lines.set(k, this.line);
  }

  /** a dotted key also defines its enclosing tables: a.b.c = 1 defines a and a.b */
  private recordKey(base: string[], key: string[]): string[] {
    for (let n = 1; n <= key.length; n++) this.record([...base, ...key.slice(0, n)]);
    return [...base, ...key];
  }

  private skipSpace(newlines: boolean): void {
    for (;;) {
      const c = this.peek();
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) this.advance();
      else if (c === "#") while (this.i < this.text.length && this.peek() !== "\n") this.advance();
      else return;
    }
  }

  private readString(): string {
    const q = this.peek();
    if (this.peek(1) === q && this.peek(2) === q) return this.readMultiline(q);
    let out = "";
    this.advance();
    while (this.i < this.text.length && this.peek() !== q && this.peek() !== "\n") {
      if (q === '"' && this.peek() === "\\") {
        this.advance();
        out += ESCAPES[this.peek()] ?? this.peek();
      } else out += this.peek();
      this.advance();
    }
    this.advance();
    return out;
  }

  private readMultiline(q: string): string {
    let out = "";
    this.i += 3;
    while (this.i < this.text.length && !(this.peek() === q && this.peek(1) === q && this.peek(2) === q)) {
      if (q === '"' && this.peek() === "\\") this.advance();
      out += this.peek();
      this.advance();
    }
    this.i += 3;
    // up to two quotes may close the string's content ("""a"""" is a + ")
    while (this.peek() === q) this.i++;
    return out;
  }

  private readKey(): string[] {
    const parts: string[] = [];
    for (;;) {
      this.skipSpace(false);
      const c = this.peek();
      if (c === '"' || c === "'") parts.push(this.readString());
      else {
        let k = "";
        while (/[A-Za-z0-9_-]/.test(this.peek())) {
          k += this.peek();
          this.advance();
        }
        parts.push(k);
      }
      this.skipSpace(false);
      if (this.peek() !== ".") return parts;
      this.advance();
    }
  }

  private skipValue(path: string[]): void {
    this.skipSpace(false);
    const c = this.peek();
    if (c === '"' || c === "'") this.readString();
    else if (c === "[") this.skipArray(path);
    else if (c === "{") this.skipInlineTable(path);
    else while (this.i < this.text.length && !/[,\]}\n#]/.test(this.peek())) this.advance();
  }

  private skipArray(path: string[]): void {
    this.advance();
    for (let index = 0; ; index++) {
      this.skipSpace(true);
      if (this.peek() === "]" || this.i >= this.text.length) break;
      const start = this.i;
      this.record([...path, `[${index}]`]);
      this.skipValue([...path, `[${index}]`]);
      this.skipSpace(true);
      if (this.peek() === ",") this.advance();
      else if (this.i === start) this.advance();
    }
    this.advance();
  }

  private skipInlineTable(path: string[]): void {
    this.advance();
    for (;;) {
      this.skipSpace(true);
      if (this.peek() === "}" || this.i >= this.text.length) break;
      const start = this.i;
      const key = this.recordKey(path, this.readKey());
      if (this.peek() === "=") this.advance();
      this.skipValue(key);
      this.skipSpace(true);
      if (this.peek() === ",") this.advance();
      else if (this.i === start) this.advance();
    }
    this.advance();
  }
}

/** The line of a key, or of its closest enclosing key that has one. */
export function lineOf(lines: Map<string, number>, path: string[]): number | undefined {
  for (let n = path.length; n > 0; n--) {
    const found = lines.get(path.slice(0, n).join("."));
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Formats a key path for messages: run.memory, bundle.dev.run.volumes[1]. */
export function keyName(path: string[]): string {
  let out = "";
  for (const p of path) {
    if (/^\[\d+\]$/.test(p)) out += p;
    else out += (out ? "." : "") + (/^[A-Za-z0-9_-]+$/.test(p) ? p : JSON.stringify(p));
  }
  return out;
}

class Checker {
  private lines: Map<string, number> | undefined;
  readonly file: string;
  readonly text: string;
  readonly projectDir: string;
  constructor(file: string, text: string, projectDir: string) {
    this.file = file;
    this.text = text;
    this.projectDir = projectDir;
  }

  fail(path: string[], message: string, hint?: string): never {
    this.lines ??= keyLines(this.text);
    const line = lineOf(this.lines, path);
    throw new CmError("bad-project-file", `${this.file}${line === undefined ? "" : `:${line}`}: ${keyName(path)}: ${message}`, {
      hint: hint ?? "see the cm.toml section of the README",
    });
  }

  table(path: string[], v: Toml): Record<string, Toml> {
    if (!isTable(v)) this.fail(path, `must be a table, not ${typeName(v)}`);
    return v;
  }

  string(path: string[], v: Toml): string {
    if (typeof v !== "string") this.fail(path, `must be a string, not ${typeName(v)}`);
    if (v.includes("\0")) this.fail(path, "must not contain a NUL character");
    return v;
  }

  strings(path: string[], v: Toml, opts: { nonEmpty?: boolean } = {}): string[] {
    if (!Array.isArray(v)) this.fail(path, `must be an array of strings, not ${typeName(v)}`);
    return v.map((item, n) => {
      const s = this.string([...path, `[${n}]`], item);
      if (opts.nonEmpty && s.trim() === "") this.fail([...path, `[${n}]`], "must not be empty");
      return s;
    });
  }

  unknown(path: string[], t: Record<string, Toml>, known: readonly string[]): void {
    for (const k of Object.keys(t)) {
      if (!known.includes(k)) this.fail([...path, k], "unknown key", `known keys here: ${known.join(", ")}`);
    }
  }

  /**
   * Runs the check that `cm run` applies to the flag; its CmError becomes this key's error. The
   * parsers take a label for the value: the file passes "value" (the key names itself).
   */
  check<T>(path: string[], f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (!(err instanceof CmError)) throw err;
      return this.fail(path, err.message, err.hint);
    }
  }

  absolute(p: string): string {
    return isAbsolute(p) ? posix.normalize(p) : resolve(this.projectDir, p);
  }
}

function isTable(v: Toml): v is Record<string, Toml> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: Toml): string {
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a date";
  if (isTable(v)) return "a table";
  if (typeof v === "number" || typeof v === "bigint") return Number.isInteger(Number(v)) ? "an integer" : "a float";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "string") return "a string";
  return typeof v;
}

function checkCreate(c: Checker, path: string[], t: Record<string, Toml>): CreateDefaults {
  c.unknown(path, t, CREATE_KEYS);
  const out: CreateDefaults = {};
  if (t.from !== undefined) out.from = checkFrom(c, [...path, "from"], c.string([...path, "from"], t.from));
  if (t.packages !== undefined) {
    out.packages = c.strings([...path, "packages"], t.packages).map((p, n) => {
      if (!DEBIAN_PACKAGE.test(p)) c.fail([...path, "packages", `[${n}]`], `invalid Debian package name ${JSON.stringify(p)}`);
      return p;
    });
  }
  if (t.post_create !== undefined) out.postCreate = c.strings([...path, "post_create"], t.post_create, { nonEmpty: true });
  if (t.userns !== undefined) {
    const text = c.string([...path, "userns"], t.userns);
    if (text !== "range" && text !== "single")
      c.fail([...path, "userns"], `${JSON.stringify(text)} is not a user namespace mode`, "use range or single");
    out.userns = parseUsernsMode(text, "userns");
  }
  if (t.install_recommends !== undefined) out.installRecommends = checkBool(c, [...path, "install_recommends"], t.install_recommends);
  if (t.http_proxy !== undefined) out.httpProxy = checkBool(c, [...path, "http_proxy"], t.http_proxy);
  if (t.host_ca !== undefined) out.hostCa = checkBool(c, [...path, "host_ca"], t.host_ca);
  if (t.allow_hosts !== undefined) out.allowHosts = checkAllowHosts(c, [...path, "allow_hosts"], t.allow_hosts);
  return out;
}

function checkBool(c: Checker, path: string[], v: Toml): boolean {
  if (typeof v !== "boolean") c.fail(path, `must be true or false, not ${typeName(v)}`);
  return v;
}

/** An array of --allow-host patterns, each checked with the flag's parser (empty: no list at all). */
function checkAllowHosts(c: Checker, path: string[], v: Toml): string[] {
  return c.strings(path, v).map((p, n) => {
    c.check([...path, `[${n}]`], () => parseAllowHost(p, "value"));
    return p;
  });
}

function checkFrom(c: Checker, path: string[], from: string): string {
  const colon = from.indexOf(":");
  const scheme = colon < 0 ? from : from.slice(0, colon);
  const rest = colon < 0 ? "" : from.slice(colon + 1);
  if (scheme === "debian") {
    if (rest !== "" && !DEBIAN_SUITE.test(rest))
      c.fail(path, `invalid Debian suite ${JSON.stringify(rest)}`, "for example debian:bookworm");
    return from;
  }
  if (scheme === "tar" || scheme === "dir") {
    if (rest === "") c.fail(path, `${JSON.stringify(from)} needs a path after the colon`);
    return `${scheme}:${c.absolute(rest)}`;
  }
  return c.fail(path, `unknown rootfs source ${JSON.stringify(from)}`, "use debian[:SUITE], tar:PATH or dir:PATH");
}

function checkRun(c: Checker, path: string[], t: Record<string, Toml>): RunDefaults {
  c.unknown(path, t, RUN_KEYS);
  const out: RunDefaults = {};
  for (const key of RUN_KEYS) {
    const v = t[key];
    if (v !== undefined) RUN_CHECKS[key](c, [...path, key], v, out);
  }
  return out;
}

/** One [run] key: checks its value (at key path `at`) and sets its field of `out`. */
type RunCheck = (c: Checker, at: string[], v: Toml, out: RunDefaults) => void;

const RUN_CHECKS: Record<(typeof RUN_KEYS)[number], RunCheck> = {
  memory: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    if (typeof v !== "string" && typeof v !== "number")
      c.fail(at, `must be a size string ("512m") or a number of bytes, not ${typeName(v)}`);
    out.memoryBytes = c.check(at, () => parseSize(String(v), "memory"));
    const tooSmall = memoryTooSmall(out.memoryBytes);
    if (tooSmall) c.fail(at, `${JSON.stringify(v)} is too small: ${tooSmall}`, "give 6m or more");
  },
  env: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.env = Object.entries(c.table(at, v)).map(([name, value]) => {
      const p = [...at, name];
      if (!ENV_NAME.test(name))
        c.fail(p, `invalid variable name ${JSON.stringify(name)}`, "use letters, digits and '_', not starting with a digit");
      if (value === true) return { name, value: undefined };
      if (typeof value !== "string") c.fail(p, `must be a string (the value) or true (take it from the host), not ${typeName(value)}`);
      if (value.includes("\0")) c.fail(p, "must not contain a NUL character");
      return { name, value };
    });
  },
  env_file: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const f = c.string(at, v);
    if (f === "") c.fail(at, "must not be empty");
    out.envFile = c.absolute(f);
  },
  volumes: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.volumes = c.strings(at, v).map((text, n) => checkVolume(c, [...at, `[${n}]`], text));
  },
  network: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const n = c.string(at, v);
    out.network = c.check(at, () => parseNetwork(n, "value"));
  },
  runtime: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const r = c.string(at, v);
    out.runtime = c.check(at, () => checkRuntimeArg(r, "value"));
  },
  command: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const cmd = c.strings(at, v);
    if (cmd.length === 0 || cmd[0] === "") c.fail(at, "must name a program", 'for example command = ["bash", "-l"]');
    out.command = cmd;
  },
  entrypoint: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const e = c.string(at, v);
    if (e.includes("\0")) c.fail(at, "must not contain NUL");
    out.entrypoint = e;
  },
  cpus: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    if (typeof v !== "number") c.fail(at, `must be a number (1, 0.5, 1.5), not ${typeName(v)}`);
    if (!(v > 0) || !Number.isFinite(v) || v > 1024) c.fail(at, `must be more than 0, not ${v}`);
    out.cpus = v;
  },
  pids_limit: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    if (typeof v !== "number" || !Number.isInteger(v)) c.fail(at, `must be an integer, not ${typeName(v)}`);
    out.pidsLimit = c.check(at, () => checkPidsLimit(v, "value"));
  },
  read_only: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.readOnly = checkBool(c, at, v);
  },
  workdir: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const w = c.string(at, v);
    out.workdir = c.check(at, () => parseWorkdir(w, "value"));
  },
  http_proxy: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.httpProxy = checkBool(c, at, v);
  },
  host_ca: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.hostCa = checkBool(c, at, v);
  },
  init: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.init = checkBool(c, at, v);
  },
  ulimits: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    const limits: Limits = {};
    for (const [name, value] of Object.entries(c.table(at, v))) {
      const p = [...at, name];
      if (typeof value !== "string" && !(typeof value === "number" && Number.isInteger(value))) {
        c.fail(p, `must be "SOFT[:HARD]" or a whole number, not ${typeName(value)}`, 'for example nofile = "4096:65536"');
      }
      const [n, limit] = c.check(p, () => parseUlimit(`${name}=${value}`, "ulimit"));
      limits[n] = limit;
    }
    out.ulimits = limits;
  },
  shm_size: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    if (typeof v !== "string" && typeof v !== "number") c.fail(at, `must be a size string ("1g") or a number of bytes, not ${typeName(v)}`);
    out.shmBytes = c.check(at, () => parseShmSize(String(v), "shm_size"));
  },
  allow_hosts: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.allowHosts = checkAllowHosts(c, at, v);
  },
  review: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.review = checkBool(c, at, v);
  },
  ephemeral: (c: Checker, at: string[], v: Toml, out: RunDefaults) => {
    out.ephemeral = checkBool(c, at, v);
  },
};

/** "SRC:DST[:ro|rw]", checked as `-v` is; a relative SRC is relative to the project directory. */
function checkVolume(c: Checker, path: string[], text: string): VolumeEntry {
  const v = c.check(path, () => parseVolume(text));
  return { ...v, source: c.absolute(v.source) };
}

/**
 * Parsed TOML document -> validated project file. `file` is the path named in messages, `text` the
 * source (for line numbers), `projectDir` the directory relative paths are resolved against.
 */
export function checkProjectFile(doc: Toml, file: string, text: string, projectDir: string): ProjectFile {
  const c = new Checker(file, text, projectDir);
  const root = c.table([], doc);
  c.unknown([], root, ["create", "run", "bundle"]);
  const out: ProjectFile = {
    path: file,
    text,
    create: root.create === undefined ? {} : checkCreate(c, ["create"], c.table(["create"], root.create)),
    run: root.run === undefined ? {} : checkRun(c, ["run"], c.table(["run"], root.run)),
    bundles: {},
  };
  if (root.bundle !== undefined) {
    for (const [name, section] of Object.entries(c.table(["bundle"], root.bundle))) {
      const p = ["bundle", name];
      if (!SAFE_NAME.test(name))
        c.fail(
          p,
          `invalid bundle name ${JSON.stringify(name)}`,
          "use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit",
        );
      const t = c.table(p, section);
      c.unknown(p, t, ["create", "run"]);
      out.bundles[name] = {
        create: t.create === undefined ? {} : checkCreate(c, [...p, "create"], c.table([...p, "create"], t.create)),
        run: t.run === undefined ? {} : checkRun(c, [...p, "run"], c.table([...p, "run"], t.run)),
      };
    }
  }
  return out;
}

/**
 * An error about a value of the file found after loading (a limit this host cannot enforce, say):
 * the same `file:line: key: message` shape as the validation errors.
 */
export function keyError(file: ProjectFile, path: string[], message: string, hint?: string): CmError {
  const line = lineOf(keyLines(file.text), path);
  return new CmError("bad-project-file", `${file.path}${line === undefined ? "" : `:${line}`}: ${keyName(path)}: ${message}`, {
    hint: hint ?? "see the cm.toml section of the README",
  });
}

/** The key that gives bundle `bundle` its value of `section.key`: the bundle's own section, else the top-level one. */
export function originOf(file: ProjectFile, bundle: string, section: "create" | "run", key: string): string[] {
  const own = file.bundles[bundle]?.[section] as Record<string, unknown> | undefined;
  const typed: Record<string, string> = {
    memory: "memoryBytes",
    pids_limit: "pidsLimit",
    post_create: "postCreate",
    install_recommends: "installRecommends",
    http_proxy: "httpProxy",
    host_ca: "hostCa",
    shm_size: "shmBytes",
    allow_hosts: "allowHosts",
  };
  return own?.[typed[key] ?? key] !== undefined ? ["bundle", bundle, section, key] : [section, key];
}

/** A TOML syntax error (smol-toml's TomlError: message, line) as a one-line CmError. */
export function syntaxError(file: string, message: string, line: number | undefined): CmError {
  const first = (message.split("\n")[0] ?? "").replace(/^Invalid TOML document:\s*/, "");
  return new CmError("bad-project-file", `${file}${line ? `:${line}` : ""}: invalid TOML: ${first}`, {
    hint: "see https://toml.io for the syntax",
  });
}

/** Later entries win per variable name; order of first appearance is kept. */
export function mergeEnv(...lists: (EnvEntry[] | undefined)[]): EnvEntry[] | undefined {
  if (lists.every((l) => l === undefined)) return undefined;
  const byName = new Map<string, EnvEntry>();
  for (const l of lists) for (const e of l ?? []) byName.set(e.name, e);
  return [...byName.values()];
}

/** Later entries win per destination; order of first appearance is kept. */
export function mergeVolumes(...lists: (VolumeEntry[] | undefined)[]): VolumeEntry[] | undefined {
  if (lists.every((l) => l === undefined)) return undefined;
  const byDest = new Map<string, VolumeEntry>();
  for (const l of lists) for (const v of l ?? []) byDest.set(v.destination, v);
  return [...byDest.values()];
}

function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function mergeCreate(low: CreateDefaults, high: CreateDefaults): CreateDefaults {
  return { ...defined(low), ...defined(high) };
}

export function mergeRun(low: RunDefaults, high: RunDefaults): RunDefaults {
  const out: RunDefaults = { ...defined(low), ...defined(high) };
  const env = mergeEnv(low.env, high.env);
  if (env) out.env = env;
  const volumes = mergeVolumes(low.volumes, high.volumes);
  if (volumes) out.volumes = volumes;
  if (low.ulimits || high.ulimits) out.ulimits = { ...low.ulimits, ...high.ulimits };
  return out;
}

/** The defaults that apply to one bundle: the top-level sections, overridden by [bundle.NAME.*]. */
export function defaultsFor(file: ProjectFile | undefined, bundle: string): Defaults {
  if (!file) return { create: {}, run: {} };
  const own = file.bundles[bundle];
  return {
    create: mergeCreate(file.create, own?.create ?? {}),
    run: mergeRun(file.run, own?.run ?? {}),
  };
}

export const DEFAULT_FROM = "debian:bookworm";

function isDebian(from: string): boolean {
  return from === "debian" || from.startsWith("debian:");
}

export interface CreatePlan {
  from: string;
  packages: string[];
  /** install the packages' Recommends (apt-get install's default) */
  recommends: boolean;
  postCreate: string[];
  userns?: UsernsMode | undefined;
  /** post_create: the host's proxy variables (default true) */
  httpProxy: boolean;
  /** post_create: the host's certificate authorities (default false) */
  hostCa: boolean;
  /** post_create's egress allow list; empty: the host's network, as before */
  allowHosts: string[];
}

/**
 * What `cm create` does, from the file's defaults for the bundle and the flags given. A flag wins;
 * the file's packages are left out when --from names a source that is not Debian (they belong to
 * the file's Debian source), and refused when the file itself pairs them with one.
 */
export function resolveCreate(
  file: CreateDefaults,
  flags: {
    from?: string | undefined;
    packages?: string[] | undefined;
    installRecommends?: boolean | undefined;
    httpProxy?: boolean | undefined;
    hostCa?: boolean | undefined;
  },
  fileName = PROJECT_FILE,
): CreatePlan {
  const from = flags.from ?? file.from ?? DEFAULT_FROM;
  let packages = flags.packages;
  if (packages === undefined) {
    packages = flags.from !== undefined && !isDebian(flags.from) ? [] : (file.packages ?? []);
    if (packages.length > 0 && !isDebian(from)) {
      throw new CmError("bad-project-file", `${fileName}: packages work only with debian sources, not ${JSON.stringify(from)}`, {
        hint: 'remove packages for this bundle, or use from = "debian:SUITE"',
      });
    }
  }
  return {
    from,
    packages,
    ...(file.userns ? { userns: file.userns } : {}),
    recommends: flags.installRecommends ?? file.installRecommends ?? true,
    postCreate: file.postCreate ?? [],
    httpProxy: flags.httpProxy ?? file.httpProxy ?? true,
    hostCa: flags.hostCa ?? file.hostCa ?? false,
    allowHosts: file.allowHosts ?? [],
  };
}
