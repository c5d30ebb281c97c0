import { hostContext } from "../actions/context.ts";
import { run } from "../actions/run.ts";
import { defineCommand } from "../core/command.ts";
import { parseCpus, parseNetwork, parsePidsLimit } from "../core/run/resources.ts";
import { parseShmSize, parseUlimits } from "../core/run/ulimit.ts";
import { parseSize } from "../core/size.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany, ttyChoice } from "./args.ts";

export const command = defineCommand({
  name: "run",
  positionals: [{ name: "BUNDLE", optional: true, complete: "bundle" }],
  rest: { value: "COMMAND [ARG...]", optional: true },
  description: `Start a container from a bundle of the current project, with the project directory mounted
read-write at /project (the working directory). Without a COMMAND: an interactive login shell
(a bundle made from an image: the image's command, below). BUNDLE defaults to "default".
Exits with the command's status: 128+N if it died of signal N, 127 if the command (or its #!
interpreter) was not found, 126 if it cannot run (not executable, exec format error, argument
list too long), 125 for cm's own errors.

A bundle made from an image runs as Docker runs it: without a COMMAND, the image's Entrypoint
followed by its Cmd (a login shell when it has neither); a COMMAND replaces the Cmd and is
appended to the Entrypoint.`,
  options: {
    env: {
      type: "string",
      short: "e",
      multiple: true,
      value: "KEY=VALUE",
      help: `set a variable inside; --env KEY takes KEY's value from your environment (which must have
it). Your environment is not passed in otherwise (except the proxy variables: --http-proxy).`,
    },
    "env-file": {
      type: "string",
      multiple: true,
      value: "FILE",
      complete: "file",
      help: "KEY=VALUE (or KEY) lines; '#' comments and blank lines are skipped. Applied before --env, so --env wins",
    },
    volume: {
      type: "string",
      short: "v",
      multiple: true,
      value: "SRC:DST[:ro]",
      complete: "file",
      help: `bind-mount host path SRC (must exist) at absolute path DST; ro: read-only. Not on or below
/project, except -v .:/project:ro (project read-only)`,
    },
    network: {
      type: "string",
      value: "MODE",
      complete: ["host", "none"],
      help: "host (default): the host's network; none: a private network, loopback only",
    },
    "http-proxy": {
      type: "boolean",
      falseForm: true,
      help: `pass your HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY (and lower-case forms) in, as set; on
by default (as Podman). --http-proxy=false: off. A bundle's own value of one, and --env, win`,
    },
    "host-ca": {
      type: "boolean",
      falseForm: true,
      help: `trust the certificate authorities your host trusts ($SSL_CERT_FILE, else
/etc/ssl/certs/ca-certificates.crt): combined with the bundle's own store at
/run/cm/ca/ca-certificates.crt (read-only), named by SSL_CERT_FILE, CURL_CA_BUNDLE,
REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO and APT_CONFIG (apt's https); off by
default (see README)`,
    },
    "allow-host": {
      type: "string",
      multiple: true,
      value: "PATTERN",
      help: `egress only to this host, through cm's proxy (repeatable): NAME, *.DOMAIN or an address,
optionally :PORT (default 80 and 443). Implies a private network whose only way out is the proxy
(HTTP(S)_PROXY point at it inside); refused connections are reported on stderr (cm logs for -d)`,
    },
    quiet: { type: "boolean", short: "q", help: "do not report refused connections" },
    verbose: { type: "boolean", help: "at the end, count the connections the proxy allowed and refused" },
    review: {
      type: "boolean",
      help: `/project's changes are held back in cm's data directory, the project directory untouched:
cm diff, cm apply, cm discard (one line at the end says so)`,
    },
    ephemeral: {
      type: "boolean",
      help: `the root filesystem's changes are discarded when the run ends (the bundle stays as created;
/project and -v volumes are written as usual)`,
    },
    memory: { type: "string", value: "SIZE", help: "memory limit: 268435456, 64k, 512m, 1.5g (binary units, any case)" },
    cpus: { type: "string", value: "N", help: "CPU limit in CPUs, fractions allowed (0.5, 1.5); at most the host's CPUs" },
    "pids-limit": {
      type: "string",
      value: "N",
      help: `at most N processes (and threads) inside. Limits are refused where they cannot be enforced (rootless: on
cgroup v1, or a controller your systemd was not delegated); on systemd + cgroup v2 a run with limits goes in a
transient scope cm-ID.scope`,
    },
    ulimit: {
      type: "string",
      multiple: true,
      value: "NAME=SOFT[:HARD]",
      help: `a resource limit (Docker's names: nofile, nproc, core, memlock, stack, ...; unlimited or -1
for none); repeatable. Default: your own limits. Above your hard limit: refused (only root can
raise one)`,
    },
    "shm-size": { type: "string", value: "SIZE", help: "size of /dev/shm (default 64m), units as --memory" },
    init: {
      type: "boolean",
      help: `run an init (tini) as PID 1 that passes signals on to the command and reaps orphans (the
default): Ctrl-C and SIGTERM work, a third Ctrl-C kills the container`,
    },
    "no-init": { type: "boolean", help: "run the command itself as PID 1" },
    entrypoint: {
      type: "string",
      value: "CMD",
      help: `run CMD (one executable; its arguments go after --) instead of the image's Entrypoint; the
image's Cmd is then not used. '' clears it`,
    },
    runtime: {
      type: "string",
      value: "NAME|PATH",
      complete: ["runc", "runsc", "crun"],
      help: "the OCI runtime: runc (default), runsc (gVisor), crun, or a path to one",
    },
    "read-only": { type: "boolean", help: "the root filesystem is read-only for this run (/project stays writable)" },
    workdir: { type: "string", short: "w", value: "DIR", help: "working directory inside (absolute; default /project)" },
    detach: {
      type: "boolean",
      short: "d",
      help: "start in the background and print the container ID; output goes to a log (cm logs ID), stop it with cm stop ID",
    },
    "log-max-size": {
      type: "string",
      value: "SIZE",
      help: `with -d: the log is kept to two files of at most SIZE each, the newest output (default 10m, so
at most 20 MiB; like docker's max-size)`,
    },
    tty: { type: "boolean", short: "t", help: "allocate a terminal (default: only when stdin is a terminal)" },
    "no-tty": { type: "boolean", short: "T", help: "do not allocate a terminal" },
    project: { type: "string", value: "NAME", complete: "project", help: "use the project NAME (its recorded directory is mounted)" },
    "security-opt": {
      type: "string",
      multiple: true,
      value: "OPT",
      help: `seccomp=unconfined: no seccomp filter (cm's default profile is off); seccomp=FILE: this OCI
linux.seccomp JSON profile instead (see SECURITY.md)`,
    },
  },
  footer: `A cm.toml in the project directory sets defaults for these options and the command ([run], and
[bundle.NAME.run] for one bundle); flags win.

On/off flags also take Podman's --NAME=true and --NAME=false (one argument, no space; node's
own parser has no such form, cm reads it itself): --http-proxy=false turns the default off,
--host-ca=false a cm.toml host_ca = true.`,
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  if (p.positionals.length > 1) {
    throw tooMany(
      "run",
      p.positionals.slice(1),
      `put the command after --: cm run ${p.positionals[0]} -- ${p.positionals.slice(1).join(" ")}`,
    );
  }
  const v = p.values;
  const tty = ttyChoice("run", v);
  if (v.init && v["no-init"]) {
    throw new CmError("usage", "run: --init and --no-init cannot be combined", { hint: "give one of them" });
  }
  return run(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: v.project,
    command: p.rest,
    entrypoint: v.entrypoint,
    memoryBytes: v.memory === undefined ? undefined : parseSize(v.memory, "--memory"),
    tty,
    env: v.env,
    envFiles: v["env-file"],
    volumes: v.volume,
    network: v.network === undefined ? undefined : parseNetwork(v.network),
    cpus: v.cpus === undefined ? undefined : parseCpus(v.cpus),
    pidsLimit: v["pids-limit"] === undefined ? undefined : parsePidsLimit(v["pids-limit"]),
    ulimits: v.ulimit ? parseUlimits(v.ulimit) : undefined,
    shmBytes: v["shm-size"] === undefined ? undefined : parseShmSize(v["shm-size"]),
    init: v.init ? true : v["no-init"] ? false : undefined,
    runtime: v.runtime,
    // an explicit --x=false overrides cm.toml's x = true (actions/rundefaults.ts): false is kept
    readOnly: v["read-only"],
    workdir: v.workdir,
    detach: v.detach === true ? true : undefined,
    logMaxBytes: logMaxSize(v["log-max-size"], v.detach === true),
    securityOpts: v["security-opt"] ?? [],
    httpProxy: v["http-proxy"],
    hostCa: v["host-ca"],
    allowHosts: v["allow-host"],
    quiet: v.quiet === true ? true : undefined,
    review: v.review,
    ephemeral: v.ephemeral,
    verbose: v.verbose === true ? true : undefined,
  });
}

/** --log-max-size in bytes: only with --detach (only a detached run keeps a log), at least 4 KiB. */
function logMaxSize(value: string | undefined, detach: boolean): number | undefined {
  if (value === undefined) return undefined;
  if (!detach) {
    throw new CmError("usage", "run: --log-max-size needs --detach: only a detached run keeps a log", {
      hint: "add -d, or leave out --log-max-size",
    });
  }
  const bytes = parseSize(value, "--log-max-size");
  if (bytes < 4096) throw new CmError("bad-size", `--log-max-size ${value} is too small`, { hint: "give 4k or more" });
  return bytes;
}
