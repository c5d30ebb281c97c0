import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { defineCommand } from "../../../src/core/command.ts";
import { bashScript, describeCommand, fishScript, zshScript } from "../../../src/core/completion.ts";

const RUN = defineCommand({
  name: "run",
  positionals: [{ name: "BUNDLE", optional: true, complete: "bundle" }],
  rest: { value: "COMMAND [ARG...]", optional: true },
  description: "Start a container.",
  options: {
    env: {
      type: "string",
      short: "e",
      multiple: true,
      value: "KEY=VALUE",
      help: "set a variable inside; --env KEY takes KEY's value\nfrom your environment",
    },
    volume: { type: "string", short: "v", value: "SRC:DST[:ro]", complete: "file", help: "bind-mount host path SRC at DST; ro: read-only" },
    network: { type: "string", value: "MODE", complete: ["host", "none"], help: "host (default) or none" },
    "read-only": { type: "boolean", help: "the root filesystem is read-only," },
    secret: { type: "boolean", hidden: true, help: "not shown" },
    tty: { type: "boolean", short: "t", help: "allocate a terminal" },
  },
});

const spec = (name: string, positionals: Parameters<typeof defineCommand>[0]["positionals"]) =>
  defineCommand({ name, positionals, description: "", options: {} });

describe("describeCommand", () => {
  test("flags, their values, completions and first-clause descriptions; hidden ones left out; --help last", () => {
    const info = describeCommand(RUN, "run a command");
    assert.deepEqual(info.flags, [
      { short: "-e", long: "--env", value: "KEY=VALUE", description: "set a variable inside" },
      { short: "-v", long: "--volume", value: "SRC:DST[:ro]", complete: "file", description: "bind-mount host path SRC at DST" },
      { long: "--network", value: "MODE", complete: ["host", "none"], description: "host (default) or none" },
      { long: "--read-only", description: "the root filesystem is read-only" },
      { short: "-t", long: "--tty", description: "allocate a terminal" },
      { short: "-h", long: "--help", description: "show this help" },
    ]);
    assert.deepEqual(info.positionals, [{ kind: "bundle" }]);
  });

  test("a boolean flag with Podman's --NAME[=false] spelling is completed as --NAME, taking no value", () => {
    const proxy = defineCommand({
      name: "run",
      positionals: [],
      description: "",
      options: { "http-proxy": { type: "boolean", falseForm: true, help: "pass your proxy variables in" } },
    });
    assert.deepEqual(describeCommand(proxy, "").flags[0], { long: "--http-proxy", description: "pass your proxy variables in" });
  });

  test("positionals: bundle, project, container and choices; none past one that is not completed", () => {
    const delete_ = spec("delete", [
      { name: "PROJECT", optional: true, complete: "project" },
      { name: "BUNDLE", optional: true, complete: "bundle" },
    ]);
    assert.deepEqual(describeCommand(delete_, "").positionals, [{ kind: "project" }, { kind: "bundle" }]);
    assert.deepEqual(describeCommand(spec("exec", [{ name: "CONTAINER", complete: "container" }]), "").positionals, [
      { kind: "container" },
    ]);
    assert.deepEqual(describeCommand(spec("completion", [{ name: "SHELL", complete: ["bash", "zsh", "fish"] }]), "").positionals, [
      { kind: "choice", choices: ["bash", "zsh", "fish"] },
    ]);
    assert.deepEqual(describeCommand(spec("x", [{ name: "KEY" }, { name: "BUNDLE", complete: "bundle" }]), "").positionals, []);
    assert.deepEqual(describeCommand(spec("list", []), "").positionals, []);
  });
});

describe("scripts", () => {
  const infos = [describeCommand(RUN, "run a command (it's quoted)"), describeCommand(spec("list", []), "list")];

  test("bash: commands, flags, value completions, the completion function registered", () => {
    const s = bashScript(infos);
    assert.match(s, /compgen -W 'run list --help --version'/);
    assert.match(
      s,
      /run\) flags='-e --env -v --volume --network --read-only -t --tty -h --help'; valued='-e --env -v --volume --network'; kinds=\(bundle\)/,
    );
    assert.match(s, /--network\) _cm_words host none ;;/);
    assert.match(s, /-v\|--volume\) COMPREPLY=\(\$\(compgen -f/);
    assert.doesNotMatch(s, /--secret/);
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
