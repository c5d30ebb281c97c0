import { hostContext } from "../actions/context.ts";
import { run } from "../actions/run.ts";
import { parseCpus, parseNetwork, parsePidsLimit } from "../core/run/resources.ts";
import { parseShmSize, parseUlimits } from "../core/run/ulimit.ts";
import { parseSize } from "../core/size.ts";
import { CmError } from "../errors.ts";
import { bool, parse, str, tooMany, ttyChoice } from "./args.ts";

export const usage = `Usage: cm run [BUNDLE] [OPTIONS] [-- COMMAND [ARG...]]

Start a container from a bundle of the current project, with the project directory mounted
read-write at /project (the working directory). Without a COMMAND: an interactive login shell
(a bundle made from an image: the image's command, below). BUNDLE defaults to "default".
Exits with the command's status: 128+N if it died of signal N, 127 if the command (or its #!
interpreter) was not found, 126 if it cannot run (not executable, exec format error, argument
list too long), 125 for cm's own errors.

A bundle made from an image runs as Docker runs it: without a COMMAND, the image's Entrypoint
followed by its Cmd (a login shell when it has neither); a COMMAND replaces the Cmd and is
appended to the Entrypoint.

Options:
  -e, --env KEY=VALUE  set a variable inside; --env KEY takes KEY's value from your environment
                       (which must have it). Your environment is not passed in otherwise
                       (except the proxy variables: --http-proxy).
  --env-file FILE      KEY=VALUE (or KEY) lines; '#' comments and blank lines are skipped.
                       Applied before --env, so --env wins
  -v, --volume SRC:DST[:ro]
                       bind-mount host path SRC (must exist) at absolute path DST; ro: read-only.
                       Not on or below /project, except -v .:/project:ro (project read-only)
  --network MODE       host (default): the host's network; none: a private network, loopback only
  --http-proxy[=false]
                       pass your HTTP_PROXY, HTTPS_PROXY, FTP_PROXY, NO_PROXY (and lower-case
                       forms) in, as set; on by default (as Podman). --http-proxy=false: off.
                       A bundle's own value of one, and --env, win
  --host-ca[=false]
                       trust the certificate authorities your host trusts ($SSL_CERT_FILE, else
                       /etc/ssl/certs/ca-certificates.crt): combined with the bundle's own store
                       at /run/cm/ca/ca-certificates.crt (read-only), named by SSL_CERT_FILE,
                       CURL_CA_BUNDLE, REQUESTS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, GIT_SSL_CAINFO
                       and APT_CONFIG (apt's https); off by default (see README)
  --allow-host PATTERN
                       egress only to this host, through cm's proxy (repeatable): NAME, *.DOMAIN
                       or an address, optionally :PORT (default 80 and 443). Implies a private
                       network whose only way out is the proxy (HTTP(S)_PROXY point at it inside);
                       refused connections are reported on stderr (cm logs for -d)
  -q, --quiet          do not report refused connections
  --verbose            at the end, count the connections the proxy allowed and refused
  --review             /project's changes are held back in cm's state, the project directory
                       untouched: cm diff, cm apply, cm discard (one line at the end says so)
  --ephemeral          the root filesystem's changes are discarded when the run ends (the
                       bundle stays as created; /project and -v volumes are written as usual)
  --memory SIZE        memory limit: 268435456, 64k, 512m, 1.5g (binary units, any case)
  --cpus N             CPU limit in CPUs, fractions allowed (0.5, 1.5); at most the host's CPUs
  --pids-limit N       at most N processes (and threads) inside
                       Limits are refused where they cannot be enforced (rootless: on cgroup v1,
                       or a controller your systemd was not delegated); on systemd + cgroup v2 a
                       run with limits goes in a transient scope cm-ID.scope
  --ulimit NAME=SOFT[:HARD]
                       a resource limit (Docker's names: nofile, nproc, core, memlock, stack,
                       ...; unlimited or -1 for none); repeatable. Default: your own limits.
                       Above your hard limit: refused (only root can raise one)
  --shm-size SIZE      size of /dev/shm (default 64m), units as --memory
  --init               run an init (tini) as PID 1 that passes signals on to the command and
                       reaps orphans (the default): Ctrl-C and SIGTERM work, a third Ctrl-C
                       kills the container
  --no-init            run the command itself as PID 1
  --entrypoint CMD     run CMD (one executable; its arguments go after --) instead of the
                       image's Entrypoint; the image's Cmd is then not used. '' clears it
  --runtime NAME|PATH  the OCI runtime: runc (default), runsc (gVisor), crun, or a path to one
  --read-only          the root filesystem is read-only for this run (/project stays writable)
  -w, --workdir DIR    working directory inside (absolute; default /project)
  -d, --detach         start in the background and print the container ID; output goes to a
                       log (cm logs ID), stop it with cm stop ID
  --log-max-size SIZE  with -d: the log is kept to two files of at most SIZE each, the newest
                       output (default 10m, so at most 20 MiB; like docker's max-size)
  -t, --tty            allocate a terminal (default: only when stdin is a terminal)
  -T, --no-tty         do not allocate a terminal
  --project NAME       use the project NAME (its recorded directory is mounted)
  --security-opt OPT   seccomp=unconfined: no seccomp filter (cm's default profile is off);
                       seccomp=FILE: this OCI linux.seccomp JSON profile instead (see SECURITY.md)
  -h, --help           show this help

A cm.toml in the project directory sets defaults for these options and the command ([run], and
[bundle.NAME.run] for one bundle); flags win.

On/off flags also take Podman's --NAME=true and --NAME=false (one argument, no space; node's
own parser has no such form, cm reads it itself): --http-proxy=false turns the default off,
--host-ca=false a cm.toml host_ca = true.
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("run", argv, {
    env: { type: "string", short: "e", multiple: true },
    "env-file": { type: "string", multiple: true },
    volume: { type: "string", short: "v", multiple: true },
    network: { type: "string" },
    "allow-host": { type: "string", multiple: true },
    quiet: { type: "boolean", short: "q" },
    review: { type: "boolean" },
    ephemeral: { type: "boolean" },
    verbose: { type: "boolean" },
    memory: { type: "string" },
    cpus: { type: "string" },
    "pids-limit": { type: "string" },
    ulimit: { type: "string", multiple: true },
    "shm-size": { type: "string" },
    init: { type: "boolean" },
    "no-init": { type: "boolean" },
    runtime: { type: "string" },
    entrypoint: { type: "string" },
    "read-only": { type: "boolean" },
    workdir: { type: "string", short: "w" },
    detach: { type: "boolean", short: "d" },
    "log-max-size": { type: "string" },
    tty: { type: "boolean", short: "t" },
    "no-tty": { type: "boolean", short: "T" },
    project: { type: "string" },
    "security-opt": { type: "string", multiple: true },
    "http-proxy": { type: "boolean" },
    "host-ca": { type: "boolean" },
  });
  if (p.positionals.length > 1) {
    throw tooMany(
      "run",
      p.positionals.slice(1),
      `put the command after --: cm run ${p.positionals[0]} -- ${p.positionals.slice(1).join(" ")}`,
    );
  }
  const memory = str(p.values.memory);
  const cpus = str(p.values.cpus);
  const pids = str(p.values["pids-limit"]);
  const network = str(p.values.network);
  const tty = ttyChoice("run", p.values);
  const logMax = str(p.values["log-max-size"]);
  if (logMax !== undefined && p.values.detach !== true) {
    throw new CmError("usage", "run: --log-max-size needs --detach: only a detached run keeps a log", {
      hint: "add -d, or leave out --log-max-size",
    });
  }
  const logMaxBytes = logMax === undefined ? undefined : parseSize(logMax, "--log-max-size");
  if (logMaxBytes !== undefined && logMaxBytes < 4096) {
    throw new CmError("bad-size", `--log-max-size ${logMax} is too small`, { hint: "give 4k or more" });
  }
  if (p.values.init && p.values["no-init"]) {
    throw new CmError("usage", "run: --init and --no-init cannot be combined", { hint: "give one of them" });
  }
  const shm = str(p.values["shm-size"]);
  return run(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: str(p.values.project),
    command: p.rest,
    entrypoint: str(p.values.entrypoint),
    memoryBytes: memory === undefined ? undefined : parseSize(memory, "--memory"),
    tty,
    env: list(p.values.env),
    envFiles: list(p.values["env-file"]),
    volumes: list(p.values.volume),
    network: network === undefined ? undefined : parseNetwork(network),
    cpus: cpus === undefined ? undefined : parseCpus(cpus),
    pidsLimit: pids === undefined ? undefined : parsePidsLimit(pids),
    ulimits: p.values.ulimit ? parseUlimits(p.values.ulimit as string[]) : undefined,
    shmBytes: shm === undefined ? undefined : parseShmSize(shm),
    init: p.values.init ? true : p.values["no-init"] ? false : undefined,
    runtime: str(p.values.runtime),
    readOnly: p.values["read-only"] === true ? true : undefined,
    workdir: str(p.values.workdir),
    detach: p.values.detach === true ? true : undefined,
    logMaxBytes,
    securityOpts: (p.values["security-opt"] as string[] | undefined) ?? [],
    httpProxy: bool(p.values["http-proxy"]),
    hostCa: bool(p.values["host-ca"]),
    allowHosts: list(p.values["allow-host"]),
    quiet: p.values.quiet === true ? true : undefined,
    review: p.values.review === true ? true : undefined,
    ephemeral: p.values.ephemeral === true ? true : undefined,
    verbose: p.values.verbose === true ? true : undefined,
  });
}

function list(v: unknown): string[] | undefined {
  return Array.isArray(v) ? (v as string[]) : undefined;
}
