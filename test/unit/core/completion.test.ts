import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bashScript, describeUsage, fishScript, zshScript } from "../../../src/core/completion.ts";

const USAGE = `Usage: cm run [BUNDLE] [OPTIONS] [-- COMMAND [ARG...]]

Start a container.

Options:
  -e, --env KEY=VALUE  set a variable inside; --env KEY takes KEY's value
                       from your environment
  -v, --volume SRC:DST[:ro]
                       bind-mount host path SRC at DST; ro: read-only
  --network MODE       host (default) or none
  --read-only          the root filesystem is read-only,
  -t, --tty            allocate a terminal
  -h, --help           show this help

More text:
  --not-a-flag         after the options section
`;

describe("describeUsage", () => {
  test("flags, their values and first-clause descriptions, from the help text", () => {
    const info = describeUsage("run", "run a command", USAGE);
    assert.deepEqual(info.flags, [
      { short: "-e", long: "--env", value: "KEY=VALUE", description: "set a variable inside" },
      { short: "-v", long: "--volume", value: "SRC:DST[:ro]", description: "bind-mount host path SRC at DST" },
      { long: "--network", value: "MODE", description: "host (default) or none" },
      { long: "--read-only", description: "the root filesystem is read-only" },
      { short: "-t", long: "--tty", description: "allocate a terminal" },
      { short: "-h", long: "--help", description: "show this help" },
    ]);
    assert.deepEqual(info.positionals, [{ kind: "bundle" }]);
  });

  test("a boolean flag with Podman's --NAME[=false] spelling is completed as --NAME, taking no value", () => {
    const usage = "Usage: cm run [OPTIONS]\n\nOptions:\n  --http-proxy[=false]\n                       pass your proxy variables in\n";
    assert.deepEqual(describeUsage("run", "", usage).flags, [{ long: "--http-proxy", description: "pass your proxy variables in" }]);
  });

  test("positionals: bundle, project, container and choices; nothing after --", () => {
    assert.deepEqual(describeUsage("delete", "", "Usage: cm delete [PROJECT [BUNDLE]] [OPTIONS]\n").positionals, [
      { kind: "project" },
      { kind: "bundle" },
    ]);
    assert.deepEqual(describeUsage("exec", "", "Usage: cm exec [-t] CONTAINER -- COMMAND...\n").positionals, [{ kind: "container" }]);
    assert.deepEqual(describeUsage("completion", "", "Usage: cm completion bash|zsh|fish\n").positionals, [
      { kind: "choice", choices: ["bash", "zsh", "fish"] },
    ]);
    assert.deepEqual(describeUsage("list", "", "Usage: cm list [--json]\n").positionals, []);
  });
});

describe("scripts", () => {
  const infos = [describeUsage("run", "run a command (it's quoted)", USAGE), describeUsage("list", "list", "Usage: cm list\n")];

  test("bash: commands, flags, value completions, the completion function registered", () => {
    const s = bashScript(infos);
    assert.match(s, /compgen -W 'run list --help --version'/);
    assert.match(
      s,
      /run\) flags='-e --env -v --volume --network --read-only -t --tty -h --help'; valued='-e --env -v --volume --network'; kinds=\(bundle\)/,
    );
    assert.match(s, /--network\) _cm_words host none ;;/);
    assert.match(s, /-v\|--volume\) COMPREPLY=\(\$\(compgen -f/);
    assert.match(s, /complete -F _cm cm\n$/);
  });

  test("zsh: a #compdef file with described commands; fish: complete lines, quotes escaped", () => {
    const z = zshScript(infos);
    assert.ok(z.startsWith("#compdef cm\n"));
    assert.match(z, /'run:run a command \(it'\\''s quoted\)'/);
    const f = fishScript(infos);
    assert.match(f, /complete -c cm -n __fish_use_subcommand -a run -d 'run a command \(it'\\''s quoted\)'/);
    assert.match(f, /complete -c cm -n '__fish_seen_subcommand_from run' -l network -x -a 'host none' -d 'host \(default\) or none'/);
  });
});
