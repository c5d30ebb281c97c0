/** The parts of the OCI runtime spec (v1.0.2) that cm writes. */
export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Capabilities {
  bounding: string[];
  effective: string[];
  inheritable: string[];
  permitted: string[];
  ambient: string[];
}

export interface Rlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Process {
  terminal: boolean;
  user: { uid: number; gid: number; additionalGids?: number[] };
  args: string[];
  env: string[];
  cwd: string;
  capabilities: Capabilities;
  rlimits: Rlimit[];
  noNewPrivileges: boolean;
}

export interface SeccompSyscall {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  flags?: string[];
  architectures?: string[];
  syscalls?: SeccompSyscall[];
}

export interface Resources {
  devices?: { allow: boolean; access?: string; type?: string; major?: number; minor?: number }[];
  memory?: { limit?: number; swap?: number };
  cpu?: { quota?: number; period?: number };
  pids?: { limit: number };
}

export interface Linux {
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  namespaces: { type: string; path?: string }[];
  resources?: Resources;
  cgroupsPath?: string;
  seccomp?: Seccomp;
  maskedPaths: string[];
  readonlyPaths: string[];
}

/** An OCI hook: `path` executed with `args` (args[0] is argv[0]), killed after `timeout` seconds. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

/** Only hooks cm writes itself: a stored spec's hooks are dropped (runtime-spec/verify.ts storedOnly). */
export interface Hooks {
  /** after the namespaces exist, before the container's process starts; in the runtime's namespaces */
  createRuntime?: Hook[];
  /** after the mounts, before pivot_root, in the container's mount namespace (cm's mount check) */
  createContainer?: Hook[];
}

export interface OciSpec {
  ociVersion: string;
  hooks?: Hooks;
  process: Process;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: Mount[];
  linux: Linux;
  annotations: Record<string, string>;
}
