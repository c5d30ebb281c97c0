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
import { SAFE_NAME } from "./names.ts";
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
const PACKAGE = /^[a-z0-9][a-z0-9+.-]+$/;
const SUITE = /^[a-z][a-z0-9.-]{0,31}$/;

/**
 * Where a key is defined in the source text: line numbers (1-based) keyed by the dotted path
 * (array elements as "[n]": "run.volumes.[1]"). smol-toml reports lines only for syntax errors, so
 * this small scanner walks the (already valid) document: table headers, dotted and quoted keys,
 * inline tables, arrays spread over lines, all four kinds of strings, comments.
 */
export function keyLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let i = 0;
  let line = 1;
  const peek = (n = 0) => text[i + n] ?? "";
  const advance = () => {
    if (text[i] === "\n") line++;
    i++;
  };
  const record = (path: string[]) => {
    const k = path.join(".");
    if (!lines.has(k)) lines.set(k, line);
  };
  /** a dotted key also defines its enclosing tables: a.b.c = 1 defines a and a.b */
  const recordKey = (base: string[], key: string[]) => {
    for (let n = 1; n <= key.length; n++) record([...base, ...key.slice(0, n)]);
    return [...base, ...key];
  };
  const skipSpace = (newlines: boolean) => {
    for (;;) {
      const c = peek();
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) advance();
      else if (c === "#") while (i < text.length && peek() !== "\n") advance();
      else return;
    }
  };
  const readString = (): string => {
    const q = peek();
    const multi = peek(1) === q && peek(2) === q;
    let out = "";
    if (multi) {
      i += 3;
      while (i < text.length && !(peek() === q && peek(1) === q && peek(2) === q)) {
        if (q === '"' && peek() === "\\") advance();
        out += peek();
        advance();
      }
      i += 3;
      // up to two quotes may close the string's content ("""a"""" is a + ")
      while (peek() === q) i++;
      return out;
    }
    advance();
    while (i < text.length && peek() !== q && peek() !== "\n") {
      if (q === '"' && peek() === "\\") {
        advance();
        const esc: Record<string, string> = { n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", b: "\b", f: "\f" };
        out += esc[peek()] ?? peek();
        advance();
        continue;
      }
      out += peek();
      advance();
    }
    advance();
    return out;
  };
  const readKey = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      skipSpace(false);
      const c = peek();
      if (c === '"' || c === "'") parts.push(readString());
      else {
        let k = "";
        while (/[A-Za-z0-9_-]/.test(peek())) {
          k += peek();
          advance();
        }
        parts.push(k);
      }
      skipSpace(false);
      if (peek() !== ".") return parts;
      advance();
    }
  };
  const skipValue = (path: string[]) => {
    skipSpace(false);
    const c = peek();
    if (c === '"' || c === "'") {
      readString();
    } else if (c === "[") {
      advance();
      let index = 0;
      for (;;) {
        skipSpace(true);
        if (peek() === "]" || i >= text.length) break;
        const start = i;
        record([...path, `[${index}]`]);
        skipValue([...path, `[${index}]`]);
        index++;
        skipSpace(true);
        if (peek() === ",") advance();
        else if (i === start) advance();
      }
      advance();
    } else if (c === "{") {
      advance();
      for (;;) {
        skipSpace(true);
        if (peek() === "}" || i >= text.length) break;
        const start = i;
        const key = recordKey(path, readKey());
        if (peek() === "=") advance();
        skipValue(key);
        skipSpace(true);
        if (peek() === ",") advance();
        else if (i === start) advance();
      }
      advance();
    } else {
      while (i < text.length && !/[,\]}\n#]/.test(peek())) advance();
    }
  };

  let table: string[] = [];
  while (i < text.length) {
    const start = i;
    skipSpace(true);
    if (i >= text.length) break;
    if (peek() === "[") {
      const array = peek(1) === "[";
      i += array ? 2 : 1;
      table = recordKey([], readKey());
      i += array ? 2 : 1;
    } else {
      const key = recordKey(table, readKey());
      if (peek() === "=") advance();
      skipValue(key);
      skipSpace(false);
    }
    // never stuck on text this scanner does not understand (the document was valid TOML anyway)
    if (i === start) advance();
  }
  return lines;
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

  /** Runs the check that `cm run` applies to the flag; its CmError becomes this key's error. */
  check<T>(path: string[], f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (!(err instanceof CmError)) throw err;
      // the flag's rule, worded for the file: "invalid --network "x"" -> "invalid value "x""
      return this.fail(path, err.message.replace(/--[a-z-]+ /, "value "), err.hint);
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
      if (!PACKAGE.test(p)) c.fail([...path, "packages", `[${n}]`], `invalid Debian package name ${JSON.stringify(p)}`);
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
    c.check([...path, `[${n}]`], () => parseAllowHost(p));
    return p;
  });
}

function checkFrom(c: Checker, path: string[], from: string): string {
  const colon = from.indexOf(":");
  const scheme = colon < 0 ? from : from.slice(0, colon);
  const rest = colon < 0 ? "" : from.slice(colon + 1);
  if (scheme === "debian") {
    if (rest !== "" && !SUITE.test(rest)) c.fail(path, `invalid Debian suite ${JSON.stringify(rest)}`, "for example debian:bookworm");
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
  const at = (k: string) => [...path, k];
  if (t.memory !== undefined) {
    const v = t.memory;
    if (typeof v !== "string" && typeof v !== "number")
      c.fail(at("memory"), `must be a size string ("512m") or a number of bytes, not ${typeName(v)}`);
    out.memoryBytes = c.check(at("memory"), () => parseSize(String(v), "memory"));
    const tooSmall = memoryTooSmall(out.memoryBytes);
    if (tooSmall) c.fail(at("memory"), `${JSON.stringify(v)} is too small: ${tooSmall}`, "give 6m or more");
  }
  if (t.env !== undefined) {
    const env = c.table(at("env"), t.env);
    out.env = Object.entries(env).map(([name, value]) => {
      const p = [...at("env"), name];
      if (!ENV_NAME.test(name))
        c.fail(p, `invalid variable name ${JSON.stringify(name)}`, "use letters, digits and '_', not starting with a digit");
      if (value === true) return { name, value: undefined };
      if (typeof value !== "string") c.fail(p, `must be a string (the value) or true (take it from the host), not ${typeName(value)}`);
      if (value.includes("\0")) c.fail(p, "must not contain a NUL character");
      return { name, value };
    });
  }
  if (t.env_file !== undefined) {
    const f = c.string(at("env_file"), t.env_file);
    if (f === "") c.fail(at("env_file"), "must not be empty");
    out.envFile = c.absolute(f);
  }
  if (t.volumes !== undefined) {
    out.volumes = c.strings(at("volumes"), t.volumes).map((v, n) => checkVolume(c, [...at("volumes"), `[${n}]`], v));
  }
  if (t.network !== undefined) {
    const n = c.string(at("network"), t.network);
    out.network = c.check(at("network"), () => parseNetwork(n));
  }
  if (t.runtime !== undefined) {
    const r = c.string(at("runtime"), t.runtime);
    out.runtime = c.check(at("runtime"), () => checkRuntimeArg(r));
  }
  if (t.command !== undefined) {
    const cmd = c.strings(at("command"), t.command);
    if (cmd.length === 0 || cmd[0] === "") c.fail(at("command"), "must name a program", 'for example command = ["bash", "-l"]');
    out.command = cmd;
  }
  if (t.entrypoint !== undefined) {
    const e = c.string(at("entrypoint"), t.entrypoint);
    if (e.includes("\0")) c.fail(at("entrypoint"), "must not contain NUL");
    out.entrypoint = e;
  }
  if (t.cpus !== undefined) {
    const v = t.cpus;
    if (typeof v !== "number") c.fail(at("cpus"), `must be a number (1, 0.5, 1.5), not ${typeName(v)}`);
    if (!(v > 0) || !Number.isFinite(v) || v > 1024) c.fail(at("cpus"), `must be more than 0, not ${v}`);
    out.cpus = v;
  }
  if (t.pids_limit !== undefined) {
    const v = t.pids_limit;
    if (typeof v !== "number" || !Number.isInteger(v)) c.fail(at("pids_limit"), `must be an integer, not ${typeName(v)}`);
    out.pidsLimit = c.check(at("pids_limit"), () => checkPidsLimit(v));
  }
  if (t.read_only !== undefined) {
    if (typeof t.read_only !== "boolean") c.fail(at("read_only"), `must be true or false, not ${typeName(t.read_only)}`);
    out.readOnly = t.read_only;
  }
  if (t.workdir !== undefined) {
    const w = c.string(at("workdir"), t.workdir);
    out.workdir = c.check(at("workdir"), () => parseWorkdir(w));
  }
  if (t.http_proxy !== undefined) out.httpProxy = checkBool(c, at("http_proxy"), t.http_proxy);
  if (t.host_ca !== undefined) out.hostCa = checkBool(c, at("host_ca"), t.host_ca);
  if (t.init !== undefined) {
    if (typeof t.init !== "boolean") c.fail(at("init"), `must be true or false, not ${typeName(t.init)}`);
    out.init = t.init;
  }
  if (t.ulimits !== undefined) {
    const limits: Limits = {};
    for (const [name, value] of Object.entries(c.table(at("ulimits"), t.ulimits))) {
      const p = [...at("ulimits"), name];
      if (typeof value !== "string" && !(typeof value === "number" && Number.isInteger(value))) {
        c.fail(p, `must be "SOFT[:HARD]" or a whole number, not ${typeName(value)}`, 'for example nofile = "4096:65536"');
      }
      const [n, limit] = c.check(p, () => parseUlimit(`${name}=${value}`, "ulimit"));
      limits[n] = limit;
    }
    out.ulimits = limits;
  }
  if (t.shm_size !== undefined) {
    const v = t.shm_size;
    if (typeof v !== "string" && typeof v !== "number")
      c.fail(at("shm_size"), `must be a size string ("1g") or a number of bytes, not ${typeName(v)}`);
    out.shmBytes = c.check(at("shm_size"), () => parseShmSize(String(v), "shm_size"));
  }
  if (t.allow_hosts !== undefined) out.allowHosts = checkAllowHosts(c, at("allow_hosts"), t.allow_hosts);
  for (const k of ["review", "ephemeral"] as const) {
    const v = t[k];
    if (v === undefined) continue;
    if (typeof v !== "boolean") c.fail(at(k), `must be true or false, not ${typeName(v)}`);
    out[k] = v;
  }
  return out;
}

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
