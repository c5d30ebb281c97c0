/** cm diff / cm apply / cm discard (one module: they share their argument and their help's shape). */
import { hostContext } from "../actions/context.ts";
import { apply, diff, discard } from "../actions/review.ts";
import { defineCommand } from "../core/command.ts";
import { parseCommand, tooMany } from "./args.ts";

const RUN_ARG = { name: "RUN", optional: true, complete: "container" } as const;
const RUN = `RUN is the ID of a run started with --review (or a unique prefix); without it, the latest
pending review of the current project. cm ps -a lists pending reviews.`;

/** stdout, quiet when its reader went away (cm diff | head) */
const out = (s: string) => {
  process.stdout.write(s, () => {});
};
process.stdout.on("error", () => {});

const diffSpec = defineCommand({
  name: "diff",
  positionals: [RUN_ARG],
  description: `What a --review run changed in /project, held back from the project directory: a list (A added,
M modified, D deleted; a trailing / for directories), then a unified diff against the project.
${RUN}`,
  options: {
    stat: { type: "boolean", help: "the list with the lines added and removed per file" },
    json: { type: "boolean", help: "an object with id, project, projectPath and changes (path, kind, type, before, mode)" },
  },
});

export const diffCommand = {
  command: diffSpec,
  async main(argv: string[]): Promise<number> {
    const p = parseCommand(diffSpec, argv);
    if (p.positionals.length > 1 || p.rest.length) throw tooMany("diff", [...p.positionals.slice(1), ...p.rest]);
    return diff(hostContext(), p.positionals[0], { stat: p.values.stat === true, json: p.values.json === true }, out);
  },
};

const applySpec = defineCommand({
  name: "apply",
  positionals: [RUN_ARG],
  description: `Write a --review run's changes into the project directory, then drop the review. Refused, naming
the files, when a file the run changed was changed in the project since the run started; nothing
is written then. Every file is prepared first and renamed into place; an interrupted apply can be
run again.
${RUN}`,
  options: {
    force: { type: "boolean", help: "take the run's version of files changed in the project meanwhile" },
  },
});

export const applyCommand = {
  command: applySpec,
  async main(argv: string[]): Promise<number> {
    const p = parseCommand(applySpec, argv);
    if (p.positionals.length > 1 || p.rest.length) throw tooMany("apply", [...p.positionals.slice(1), ...p.rest]);
    return apply(hostContext(), p.positionals[0], p.values.force === true, out);
  },
};

const discardSpec = defineCommand({
  name: "discard",
  positionals: [RUN_ARG],
  description: `Drop a --review run's changes: the project directory stays as it is.
${RUN}`,
  options: {},
});

export const discardCommand = {
  command: discardSpec,
  async main(argv: string[]): Promise<number> {
    const p = parseCommand(discardSpec, argv);
    if (p.positionals.length > 1 || p.rest.length) throw tooMany("discard", [...p.positionals.slice(1), ...p.rest]);
    return discard(hostContext(), p.positionals[0], out);
  },
};
