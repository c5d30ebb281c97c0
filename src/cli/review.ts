/** cm diff / cm apply / cm discard (one module: they share their argument and their help's shape). */
import { hostContext } from "../actions/context.ts";
import { apply, diff, discard } from "../actions/review.ts";
import { parse, tooMany } from "./args.ts";

const RUN = `RUN is the ID of a run started with --review (or a unique prefix); without it, the latest
pending review of the current project. cm ps -a lists pending reviews.`;

/** stdout, quiet when its reader went away (cm diff | head) */
const out = (s: string) => {
  process.stdout.write(s, () => {});
};
process.stdout.on("error", () => {});

export const diffCommand = {
  usage: `Usage: cm diff [RUN] [--stat | --json]

What a --review run changed in /project, held back from the project directory: a list (A added,
M modified, D deleted; a trailing / for directories), then a unified diff against the project.
${RUN}

Options:
  --stat       the list with the lines added and removed per file
  --json       an object with id, project, projectPath and changes (path, kind, type, before, mode)
  -h, --help   show this help
`,
  async main(argv: string[]): Promise<number> {
    const p = parse("diff", argv, { stat: { type: "boolean" }, json: { type: "boolean" } });
    if (p.positionals.length > 1 || p.rest.length) throw tooMany("diff", [...p.positionals.slice(1), ...p.rest]);
    return diff(hostContext(), p.positionals[0], { stat: p.values.stat === true, json: p.values.json === true }, out);
  },
};

export const applyCommand = {
  usage: `Usage: cm apply [RUN] [--force]

Write a --review run's changes into the project directory, then drop the review. Refused, naming
the files, when a file the run changed was changed in the project since the run started; nothing
is written then. Every file is prepared first and renamed into place; an interrupted apply can be
run again. ${RUN}

Options:
  --force      take the run's version of files changed in the project meanwhile
  -h, --help   show this help
`,
  async main(argv: string[]): Promise<number> {
    const p = parse("apply", argv, { force: { type: "boolean" } });
    if (p.positionals.length > 1 || p.rest.length) throw tooMany("apply", [...p.positionals.slice(1), ...p.rest]);
    return apply(hostContext(), p.positionals[0], p.values.force === true, out);
  },
};

export const discardCommand = {
  usage: `Usage: cm discard [RUN]

Drop a --review run's changes: the project directory stays as it is.
${RUN}

Options:
  -h, --help   show this help
`,
  async main(argv: string[]): Promise<number> {
    const p = parse("discard", argv, {});
    if (p.positionals.length > 1 || p.rest.length) throw tooMany("discard", [...p.positionals.slice(1), ...p.rest]);
    return discard(hostContext(), p.positionals[0], out);
  },
};
