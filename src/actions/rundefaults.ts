/** Merging cm.toml's [run] defaults into cm run's options (loaded only when a cm.toml exists). */
import { defaultsFor, keyName, originOf, type ProjectFile } from "../core/projectfile.ts";
import type { RunOptions } from "../core/run/options.ts";
import { parseVolume } from "../core/run/volume.ts";

/**
 * cm run's options with the project file's defaults for the bundle filled in. Flags win: a flag
 * replaces the file's value; the file's env comes before --env-file and --env (a flag's value of
 * a variable wins); the file's volumes are kept unless a -v has the same destination.
 * Wired: every [run] key (memory, env, env_file, volumes, network, runtime, command, entrypoint, cpus,
 * pids_limit, read_only, workdir, http_proxy, host_ca, init, ulimits, shm_size, allow_hosts, review,
 * ephemeral). --allow-host
 * flags replace the file's allow_hosts (what is given on the command line is the whole list).
 */
export function withProjectDefaults(opts: RunOptions, file: ProjectFile | undefined): RunOptions {
  if (!file) return opts;
  const d = defaultsFor(file, opts.bundle).run;
  const flagDestinations = new Set((opts.volumes ?? []).map((v) => parseVolume(v).destination));
  const fileVolumes = (d.volumes ?? [])
    .filter((v) => !flagDestinations.has(v.destination))
    .map((v) => `${v.source}:${v.destination}${v.readOnly ? ":ro" : ""}`);
  const volumes = [...fileVolumes, ...(opts.volumes ?? [])];
  return {
    ...opts,
    command: opts.command.length > 0 ? opts.command : (d.command ?? []),
    entrypoint: opts.entrypoint ?? d.entrypoint,
    memoryBytes: opts.memoryBytes ?? d.memoryBytes,
    cpus: opts.cpus ?? d.cpus,
    pidsLimit: opts.pidsLimit ?? d.pidsLimit,
    network: opts.network ?? d.network,
    runtime: opts.runtime ?? d.runtime,
    readOnly: opts.readOnly ?? d.readOnly,
    workdir: opts.workdir ?? d.workdir,
    httpProxy: opts.httpProxy ?? d.httpProxy,
    hostCa: opts.hostCa ?? d.hostCa,
    ...(opts.allowHosts?.length || !d.allowHosts?.length
      ? {}
      : { allowHosts: d.allowHosts, allowHostsWhere: `${file.path}: ${keyName(originOf(file, opts.bundle, "run", "allow_hosts"))}` }),
    review: opts.review ?? d.review,
    ephemeral: opts.ephemeral ?? d.ephemeral,
    init: opts.init ?? d.init,
    shmBytes: opts.shmBytes ?? d.shmBytes,
    ulimits: d.ulimits || opts.ulimits ? { ...d.ulimits, ...opts.ulimits } : undefined,
    volumes: volumes.length > 0 ? volumes : opts.volumes,
    fileEnv:
      d.env || d.envFile
        ? {
            envFiles: d.envFile === undefined ? [] : [d.envFile],
            // NAME = true: the host's value, left out when the host has none (a flag may give it)
            env: (d.env ?? [])
              .filter((e) => e.value !== undefined || process.env[e.name] !== undefined)
              .map((e) => (e.value === undefined ? e.name : `${e.name}=${e.value}`)),
            where: { envFile: `${file.path}: run.env_file`, env: `${file.path}: run.env` },
          }
        : undefined,
  };
}
