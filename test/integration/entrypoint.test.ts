/**
 * Entrypoint and Cmd as Docker runs them (core/run/command.ts), on bundles made from images the
 * test builds itself (test/helpers/oci.ts, served as an OCI layout: no registry needed): `cm run`
 * runs Entrypoint + Cmd, `cm run -- ARGS` Entrypoint + ARGS, `--entrypoint CMD` replaces the
 * entrypoint and drops the image's Cmd, `--entrypoint ''` clears it; `cm exec` never uses it; the
 * 127/126 checks look at the first word actually run; bundles made before keep their command.
 * Root and rootless.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { fixtures, isOneLineError, type Sandbox, sandbox, USERS, writeProjectFile } from "../helpers/cm.ts";
import { Layout, treeEntries } from "../helpers/oci.ts";

let layoutDir: string;

/** Prints its arguments; `[--from-image] exec CMD...` then runs CMD (a detached container keeps running). */
const ENTRY = `#!/bin/sh
echo "entry: $*"
[ "$1" = --from-image ] && shift
if [ "$1" = exec ]; then shift; exec "$@"; fi
`;

before(() => {
  layoutDir = join(process.env.CM_TEST_RUN as string, `oci-entrypoint-${process.pid}`);
  const l = new Layout(layoutDir);
  const base = { entries: treeEntries(fixtures.busybox) };
  const files = {
    entries: [
      { path: "entry.sh", mode: 0o755, content: ENTRY },
      { path: "not-exec.sh", mode: 0o644, content: "#!/bin/sh\necho never\n" },
      { path: "etc/marker", content: "marker\n" },
    ],
  };
  const image = (config: { Entrypoint?: string[]; Cmd?: string[] }) => l.image({ layers: [base, files], config });
  l.tag(image({ Entrypoint: ["/entry.sh", "--from-image"], Cmd: ["default-cmd", "two words"] }), "both");
  l.tag(image({ Entrypoint: ["/entry.sh"] }), "entry-only");
  l.tag(image({ Cmd: ["echo", "cmd-only"] }), "cmd-only");
  l.tag(image({}), "none");
  l.tag(image({ Entrypoint: ["/no-such-entry"], Cmd: ["x"] }), "missing-entry");
  l.tag(image({ Entrypoint: ["/not-exec.sh"] }), "not-exec-entry");
  execFileSync("chmod", ["-R", "a+rX", layoutDir]);
});

function create(sb: Sandbox, bundle: string, tag: string): void {
  const r = sb.cm(["create", bundle, "--from", `oci-layout:${layoutDir}:${tag}`]);
  assert.equal(r.status, 0, r.stderr);
}

function configPath(sb: Sandbox, bundle: string): string {
  const data = sb.env.CM_HOME as string;
  const [key] = readdirSync(data).filter((n) => !n.startsWith("."));
  return join(data, key as string, bundle, "config.json");
}

function ok(sb: Sandbox, args: string[], input = ""): string {
  const r = sb.cm(args, { input });
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

for (const as of USERS) {
  describe(`entrypoint and cmd (${as})`, () => {
    const sb = sandbox(as, "entryproj");

    test("setup: bundles from images with an entrypoint, a cmd, both, neither", () => {
      for (const tag of ["both", "entry-only", "cmd-only", "none", "missing-entry", "not-exec-entry"]) create(sb, tag, tag);
    });

    test("an image bundle runs under the init too: PID 1 is /dev/init, the entrypoint its child", () => {
      const out = ok(sb, ["run", "both", "--", "exec", "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]);
      assert.match(out, /^\/dev\/init -g -- \/entry\.sh --from-image exec sh -c /m);
      const killed = sb.cm(["run", "both", "--", "exec", "sh", "-c", "kill -9 $$"]);
      assert.equal(killed.status, 137, killed.stderr);
    });

    test("Entrypoint and Cmd are recorded apart; the bundle's args are both, in order", () => {
      const cfg = JSON.parse(readFileSync(configPath(sb, "both"), "utf8")) as {
        process: { args: string[] };
        annotations: Record<string, string>;
      };
      assert.deepEqual(cfg.process.args, ["/entry.sh", "--from-image", "default-cmd", "two words"]);
      assert.deepEqual(JSON.parse(cfg.annotations["dev.cm.image.entrypoint"] ?? ""), ["/entry.sh", "--from-image"]);
      assert.deepEqual(JSON.parse(cfg.annotations["dev.cm.image.cmd"] ?? ""), ["default-cmd", "two words"]);
      assert.equal(cfg.annotations["dev.cm.image.command"], undefined);
    });

    test("cm run: Entrypoint + Cmd; cm run -- ARGS: Entrypoint + ARGS (ARGS replace the Cmd only)", () => {
      assert.equal(ok(sb, ["run", "both"]), "entry: --from-image default-cmd two words\n");
      assert.equal(ok(sb, ["run", "both", "--", "a", "b c"]), "entry: --from-image a b c\n");
      assert.equal(ok(sb, ["run", "entry-only"]), "entry: \n");
      assert.equal(ok(sb, ["run", "entry-only", "--", "exec", "cat", "/etc/marker"]), "entry: exec cat /etc/marker\nmarker\n");
      assert.equal(ok(sb, ["run", "cmd-only"]), "cmd-only\n");
      assert.equal(ok(sb, ["run", "cmd-only", "--", "cat", "/etc/marker"]), "marker\n");
    });

    test("an image with neither: cm run starts the login shell", () => {
      assert.equal(ok(sb, ["run", "none"], "echo from-the-shell\n"), "from-the-shell\n");
    });

    test("--entrypoint CMD replaces the entrypoint and drops the image's Cmd; '' clears it", () => {
      assert.equal(ok(sb, ["run", "both", "--entrypoint", "/bin/cat", "--", "/etc/marker"]), "marker\n");
      // looked up on PATH like any command; the image's Cmd is not appended
      assert.equal(ok(sb, ["run", "both", "--entrypoint", "echo"]), "\n");
      assert.equal(ok(sb, ["run", "both", "--entrypoint", "", "--", "cat", "/etc/marker"]), "marker\n");
      assert.equal(ok(sb, ["run", "both", "--entrypoint=", "--", "echo", "cleared"]), "cleared\n");
      // cleared and no ARGS: nothing to run but the login shell
      assert.equal(ok(sb, ["run", "both", "--entrypoint", ""], "echo shell-after-clear\n"), "shell-after-clear\n");
      // on a bundle without any image command too
      assert.equal(ok(sb, ["run", "none", "--entrypoint", "/entry.sh", "--", "x"]), "entry: x\n");
    });

    test("the 127/126 checks look at the first word actually run: the entrypoint's", () => {
      const missing = sb.cm(["run", "missing-entry"]);
      assert.equal(missing.status, 127);
      assert.ok(isOneLineError(missing.stderr), missing.stderr);
      assert.match(missing.stderr, /\/no-such-entry: command not found in bundle missing-entry.*image's entrypoint/);
      // ARGS do not replace the entrypoint: still 127
      assert.equal(sb.cm(["run", "missing-entry", "--", "true"]).status, 127);
      assert.equal(ok(sb, ["run", "missing-entry", "--entrypoint", "", "--", "echo", "fine"]), "fine\n");
      const notExec = sb.cm(["run", "not-exec-entry"]);
      assert.equal(notExec.status, 126);
      assert.ok(isOneLineError(notExec.stderr), notExec.stderr);
      assert.match(notExec.stderr, /\/not-exec.sh: not executable/);
      const spaced = sb.cm(["run", "both", "--entrypoint", "sh -c", "--", "true"]);
      assert.equal(spaced.status, 127);
      assert.ok(isOneLineError(spaced.stderr), spaced.stderr);
      assert.match(spaced.stderr, /sh -c: command not found.*one executable/);
      // an ARG that does not exist is the entrypoint's business, not a 127 from cm
      assert.equal(ok(sb, ["run", "both", "--", "/no-such-arg"]), "entry: --from-image /no-such-arg\n");
    });

    test("cm exec does not use the entrypoint; cm ps shows the command the run started", () => {
      const r = sb.cm(["run", "-d", "both", "--", "exec", "sleep", "60"]);
      assert.equal(r.status, 0, r.stderr);
      const id = r.stdout.trim();
      try {
        assert.equal(ok(sb, ["exec", id, "--", "echo", "plain"]), "plain\n");
        const ps = JSON.parse(ok(sb, ["ps", "--json"])) as { id: string; command: string[] }[];
        assert.deepEqual(ps.find((c) => c.id === id)?.command, ["/entry.sh", "--from-image", "exec", "sleep", "60"]);
        assert.equal(ok(sb, ["logs", id]), "entry: --from-image exec sleep 60\n");
      } finally {
        assert.equal(sb.cm(["stop", id, "--time", "0"]).status, 0);
      }
    });

    test("a bundle made before Entrypoint and Cmd were recorded apart keeps running its command", () => {
      create(sb, "old", "both");
      const file = configPath(sb, "old");
      const cfg = JSON.parse(readFileSync(file, "utf8")) as { annotations: Record<string, string> };
      delete cfg.annotations["dev.cm.image.entrypoint"];
      delete cfg.annotations["dev.cm.image.cmd"];
      cfg.annotations["dev.cm.image.command"] = JSON.stringify(["/entry.sh", "legacy"]);
      writeFileSync(file, JSON.stringify(cfg)); // same owner: the file is rewritten in place
      assert.equal(ok(sb, ["run", "old"]), "entry: legacy\n");
      // it was a Cmd: ARGS replace all of it
      assert.equal(ok(sb, ["run", "old", "--", "cat", "/etc/marker"]), "marker\n");
    });

    test("a bundle copied from an image bundle (--from bundle:X) keeps the image's entrypoint, cmd and env", () => {
      const r = sb.cm(["create", "copied", "--from", "bundle:both"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(ok(sb, ["run", "copied"]), "entry: --from-image default-cmd two words\n");
      assert.equal(ok(sb, ["run", "copied", "--", "x"]), "entry: --from-image x\n");
      assert.equal(ok(sb, ["run", "copied", "--", "sh", "-c", "true"]), "entry: --from-image sh -c true\n");
      const env = (b: string) => (JSON.parse(readFileSync(configPath(sb, b), "utf8")) as { process: { env: string[] } }).process.env;
      assert.deepEqual(env("copied"), env("both"));
    });

    test("cm.toml's command counts as ARGS: after the entrypoint, replacing the Cmd; --entrypoint still applies", () => {
      const toml = join(sb.project, "cm.toml");
      writeProjectFile(sb, '[bundle.both.run]\ncommand = ["from-toml"]\n');
      try {
        assert.equal(ok(sb, ["run", "both"]), "entry: --from-image from-toml\n");
        assert.equal(ok(sb, ["run", "both", "--entrypoint", "echo"]), "from-toml\n");
        assert.equal(ok(sb, ["run", "both", "--", "flag-wins"]), "entry: --from-image flag-wins\n");
        // cm.toml's entrypoint is --entrypoint's default: it replaces the image's, the Cmd is dropped
        writeProjectFile(sb, '[bundle.both.run]\nentrypoint = "echo"\ncommand = ["from-toml"]\n');
        assert.equal(ok(sb, ["run", "both"]), "from-toml\n");
        assert.equal(ok(sb, ["run", "both", "--", "args"]), "args\n");
        assert.equal(ok(sb, ["run", "both", "--entrypoint", "", "--", "echo", "cleared"]), "cleared\n");
      } finally {
        rmSync(toml);
      }
    });

    test("--entrypoint is a run option: --help documents it", () => {
      const help = ok(sb, ["run", "--help"]);
      assert.match(help, /--entrypoint CMD/);
      assert.match(help, /appended to the Entrypoint/);
    });
  });
}
