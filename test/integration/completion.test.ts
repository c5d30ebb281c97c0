import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, type Sandbox, sandbox, USERS } from "../helpers/cm.ts";

/** The shells must be installed: a missing one fails loudly (apt-get install zsh fish). */
function shell(name: string): string {
  const path = `/usr/bin/${name}`;
  assert.ok(existsSync(path), `${name} is needed by the completion tests: apt-get install zsh fish`);
  return path;
}

/** A script file the sandbox user can read. */
function script(dir: string, name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text, { mode: 0o644 });
  return file;
}

/** The visible commands, in the order `cm --help` lists them: what completion must offer. */
function commands(sb: Sandbox): string {
  const help = sb.cm(["--help"]).stdout;
  const section = help.slice(help.indexOf("Commands:"));
  return [...section.matchAll(/^ {2}(\S+) {2}/gm)].map((m) => m[1]).join(",");
}

for (const as of USERS) {
  describe(`cm completion (${as})`, () => {
    const sb = sandbox(as, "compl");
    const cm = fixtures.bin;

    test("setup: two bundles in this project, one in another", () => {
      for (const b of ["default", "dev"]) assert.equal(sb.cm(["create", b, "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      const other = sb.mkdir("work", "other");
      assert.equal(sb.cm(["create", "tools", "--from", `dir:${fixtures.busybox}`, "-q"], { cwd: other }).status, 0);
    });

    test("cm __complete: bundles of this project (or a named one), projects; silent and empty elsewhere", () => {
      assert.equal(sb.cm(["__complete", "bundles"]).stdout, "default\ndev\n");
      assert.equal(sb.cm(["__complete", "bundles", "other"]).stdout, "tools\n");
      assert.deepEqual(sb.cm(["__complete", "projects"]).stdout.split("\n").filter(Boolean).sort(), ["compl", "other"]);
      for (const args of [["__complete", "bundles", "../x"], ["__complete", "nonsense"], ["__complete"]]) {
        const r = sb.cm(args);
        assert.equal(r.status, 0);
        assert.equal(r.stdout + r.stderr, "");
      }
      const r = sb.cm(["__complete", "bundles"], { cwd: sb.home });
      assert.equal(r.status, 0);
      assert.equal(r.stdout + r.stderr, "");
    });

    test("bash: the script loads and registers _cm; completing drives it to the real names", () => {
      const file = script(
        sb.dir,
        "drive.bash",
        `source <("${cm}" completion bash) || exit 1
complete -p cm
drive() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _cm; local IFS=,; echo "\${COMPREPLY[*]}"; }
drive "${cm}" ""
drive "${cm}" ru
drive "${cm}" run ""
drive "${cm}" run d
drive "${cm}" run --project other ""
drive "${cm}" run --netw
drive "${cm}" run --network ""
drive "${cm}" run dev ""
drive "${cm}" run -- ""
drive "${cm}" delete ""
drive "${cm}" delete other ""
drive "${cm}" completion ""
drive "${cm}" run --network = ""
drive "${cm}" run --project = other ""
`,
      );
      const r = sb.exec("/bin/bash", [file]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, "");
      const lines = r.stdout.split("\n");
      assert.equal(lines[0], "complete -F _cm cm");
      assert.deepEqual(lines.slice(1, -1), [
        `${commands(sb)},--help,--version`,
        "run",
        "default,dev",
        "default,dev",
        "tools",
        "--network",
        "host,none",
        "",
        "",
        "compl,other",
        "tools",
        "bash,zsh,fish",
        "host,none",
        "tools",
      ]);
    });

    test("zsh: the script parses (zsh -n) and, with the completion builtins stubbed, offers the real names", () => {
      const zsh = shell("zsh");
      const text = sb.cm(["completion", "zsh"]).stdout;
      assert.ok(text.startsWith("#compdef cm\n"));
      const file = script(sb.dir, "_cm", text);
      const n = sb.exec(zsh, ["-n", file]);
      assert.equal(n.status, 0, n.stderr);
      const drive = script(
        sb.dir,
        "drive.zsh",
        `compdef() { :; }
compadd() { local i=\${@[(i)--]}; print -rn -- "\${(j:,:)@[i+1,-1]}"; }
_describe() { local -a a; a=("\${(@P)\${@[-1]}}"); a=("\${(@)a%%:*}"); print -rn -- "\${(j:,:)a}"; }
_files() { print -rn -- _files; }
_message() { :; }
source ${file}
drive() { words=("$@"); CURRENT=$#; _cm; print; }
drive ${cm} ""
drive ${cm} run ""
drive ${cm} run -
drive ${cm} run --runtime ""
drive ${cm} delete other ""
drive ${cm} completion ""
`,
      );
      const r = sb.exec(zsh, ["-f", drive]);
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.split("\n").slice(0, -1), [
        commands(sb),
        "default,dev",
        "-e,--env,--env-file,-v,--volume,--network,--http-proxy,--host-ca,--allow-host,-q,--quiet,--verbose,--review,--ephemeral,--memory,--cpus,--pids-limit,--ulimit,--shm-size,--init,--no-init,--entrypoint,--runtime,--read-only,-w,--workdir,-d,--detach,--log-max-size,-t,--tty,-T,--no-tty,--project,--security-opt,-h,--help",
        "runc,runsc,crun",
        "tools",
        "bash,zsh,fish",
      ]);
    });

    test("fish: the script parses (fish -n) and `complete -C` offers the real names", () => {
      const fish = shell("fish");
      const file = script(sb.dir, "cm.fish", sb.cm(["completion", "fish"]).stdout);
      const n = sb.exec(fish, ["-n", file]);
      assert.equal(n.status, 0, n.stderr);
      const ask = (line: string) => {
        const r = sb.exec(fish, ["--no-config", "-c", `source ${file}; complete -C${JSON.stringify(line)}`]);
        assert.equal(r.status, 0, r.stderr);
        return r.stdout
          .split("\n")
          .filter(Boolean)
          .map((l) => l.split("\t")[0]);
      };
      assert.deepEqual(ask(`${cm} run `), ["default", "dev"]);
      assert.deepEqual(ask(`${cm} run --project other `), ["tools"]);
      assert.deepEqual(ask(`${cm} delete `), ["compl", "other"]);
      assert.deepEqual(ask(`${cm} run --network `), ["host", "none"]);
      assert.ok(ask(`${cm} `).includes("completion"));
      assert.ok(ask(`${cm} run --`).includes("--read-only"));
    });

    test("bad input: one-line errors, exit 125; the helper is not listed in help", () => {
      for (const args of [["completion"], ["completion", "tcsh"], ["completion", "bash", "zsh"], ["completion", "--bogus"]]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${args.join(" ")}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.equal(r.stdout, "");
      }
      const help = sb.cm(["--help"]).stdout;
      assert.match(help, /completion/);
      assert.doesNotMatch(help, /__complete|__monitor/);
    });
  });
}

describe("cm list --json", () => {
  test("the documented fields, in a stable order, with their types", () => {
    const sb = sandbox("rootless");
    assert.equal(sb.cm(["list", "--json"]).stdout, "[]\n");
    assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
    const entries = JSON.parse(sb.cm(["list", "--json"]).stdout) as Record<string, unknown>[];
    assert.equal(entries.length, 1);
    const e = entries[0] as Record<string, unknown>;
    assert.deepEqual(Object.keys(e), ["project", "bundle", "path", "source", "created", "sizeBytes", "rootless", "dir"]);
    assert.equal(e.project, "proj");
    assert.equal(e.bundle, "default");
    assert.equal(e.path, sb.project);
    assert.equal(e.source, `dir:${fixtures.busybox}`);
    assert.ok(!Number.isNaN(Date.parse(e.created as string)));
    assert.equal(typeof e.sizeBytes, "number");
    assert.equal(e.rootless, true);
    assert.equal(e.dir, join(sb.env.CM_HOME as string, "proj", "default"));
  });
});
