import { hostContext } from "../actions/context.ts";
import { run } from "../actions/run.ts";
import { parseSize } from "../core/size.ts";
import { parse, str, tooMany } from "./args.ts";

export const usage = `Usage: cm run [BUNDLE] [OPTIONS] [-- COMMAND [ARG...]]

Start a container from a bundle of the current project, with the project directory mounted
read-write at /project (the working directory). Without a COMMAND: an interactive login shell.
BUNDLE defaults to "default". Exits with the command's status: 128+N if it died of signal N,
127 if the command was not found, 126 if it is not executable, 125 for cm's own errors.

Options:
  --memory SIZE        memory limit: 268435456, 64k, 512m, 1.5g (binary units, any case);
                       refused where it cannot be enforced (rootless on cgroup v1)
  -t, --tty            allocate a terminal (default: only when stdin is a terminal)
  -T, --no-tty         do not allocate a terminal
  --project NAME       use the project NAME (its recorded directory is mounted)
  --security-opt OPT   seccomp=unconfined: no seccomp filter (cm's default profile is off);
                       seccomp=FILE: this OCI linux.seccomp JSON profile instead (see SECURITY.md)
  -h, --help           show this help
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("run", argv, {
    memory: { type: "string" },
    tty: { type: "boolean", short: "t" },
    "no-tty": { type: "boolean", short: "T" },
    project: { type: "string" },
    "security-opt": { type: "string", multiple: true },
  });
  if (p.positionals.length > 1) {
    throw tooMany(
      "run",
      p.positionals.slice(1),
      `put the command after --: cm run ${p.positionals[0]} -- ${p.positionals.slice(1).join(" ")}`,
    );
  }
  const memory = str(p.values.memory);
  const tty = p.values["no-tty"] === true ? false : p.values.tty === true ? true : undefined;
  return run(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: str(p.values.project),
    command: p.rest,
    memoryBytes: memory === undefined ? undefined : parseSize(memory, "--memory"),
    tty,
    securityOpts: (p.values["security-opt"] as string[] | undefined) ?? [],
  });
}
