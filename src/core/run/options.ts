/**
 * The options of a run: what `cm run` can be given, from the command line (cli/run.ts) or the
 * project file (actions/rundefaults.ts merges cm.toml's [run] under the flags). Types only: values
 * are syntactically typed here and checked against the host when the run is planned
 * (actions/run.ts). A new run option is a field here, a step of the plan, and a spec transform.
 */
import type { Network } from "./resources.ts";
import type { Limits } from "./ulimit.ts";

/**
 * Everything a run can be given.
 */
export interface RunOptions {
  bundle: string;
  project?: string | undefined;
  /** ARGS: replace the image's Cmd, follow its entrypoint (core/run/command.ts) */
  command: string[];
  /** --entrypoint: one executable replacing the image's entrypoint; "" clears it */
  entrypoint?: string | undefined;
  memoryBytes?: number | undefined;
  tty?: boolean | undefined;
  /** `KEY=VALUE`, or `KEY` to take the host's value (which must be set) */
  env?: string[] | undefined;
  /** files of KEY=VALUE lines, applied before `env` */
  envFiles?: string[] | undefined;
  /** `SRC:DST[:ro|rw]`; a relative SRC is relative to the current directory */
  volumes?: string[] | undefined;
  network?: Network | undefined;
  cpus?: number | undefined;
  pidsLimit?: number | undefined;
  /** a name looked up on PATH (runc, runsc, crun) or an absolute path; default runc */
  runtime?: string | undefined;
  readOnly?: boolean | undefined;
  /** absolute path inside; default /project */
  workdir?: string | undefined;
  detach?: boolean | undefined;
  /** with detach: the log's size limit per file in bytes (store/log.ts; default 10 MiB) */
  logMaxBytes?: number | undefined;
  /** the project file's environment (cm.toml [run] env_file, env): applied before the flags' */
  fileEnv?: EnvLayer | undefined;
  /** --security-opt values (seccomp=unconfined|FILE) */
  securityOpts?: string[] | undefined;
  /** --http-proxy: pass the host's proxy variables (undefined: cm.toml's, else true) */
  httpProxy?: boolean | undefined;
  /** --host-ca: trust the host's certificate authorities (undefined: cm.toml's, else false) */
  hostCa?: boolean | undefined;
  /** --allow-host patterns (core/run/allowhost.ts): egress only through cm's proxy, to these */
  allowHosts?: string[] | undefined;
  /** where allowHosts came from, for messages: "--allow-host" or a cm.toml key */
  allowHostsWhere?: string | undefined;
  /** --review: /project's changes go to a layer in cm's state, for cm diff/apply/discard */
  review?: boolean | undefined;
  /** --ephemeral: the root filesystem's changes are discarded at exit (an overlay over the bundle's) */
  ephemeral?: boolean | undefined;
  /** -q: no report of refused connections */
  quiet?: boolean | undefined;
  /** --verbose: the count of allowed and refused connections at the end */
  verbose?: boolean | undefined;
  /** --init / --no-init: an init as PID 1 (default true; core/run/init.ts) */
  init?: boolean | undefined;
  /** --ulimit values by name, over the invoking user's own limits (core/run/ulimit.ts) */
  ulimits?: Limits | undefined;
  /** --shm-size in bytes */
  shmBytes?: number | undefined;
}

/** env files, then variables; `where` names their origin in messages */
export interface EnvLayer {
  envFiles?: string[] | undefined;
  env?: string[] | undefined;
  where?: { envFile: string; env: string } | undefined;
}
