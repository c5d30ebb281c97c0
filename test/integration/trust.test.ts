/**
 * cm.toml takes effect only once approved (cm trust): what a container or a cloned repository
 * writes into the project cannot widen the next run. Paths in the project cannot lead out of it.
 */
import assert from "node:assert/strict";
import { chownSync, existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS, writeProjectFile } from "../helpers/cm.ts";

/** Runs argv[2:] with stdin and stderr on a pseudo-terminal, stdout a pipe; types argv[1] once the question is shown. */
const PTY = `
import os, pty, subprocess, sys
master, slave = pty.openpty()
p = subprocess.Popen(sys.argv[2:], stdin=slave, stderr=slave, stdout=subprocess.PIPE)
os.close(slave)
seen = b""
while b"[y/N]" not in seen:
    seen += os.read(master, 4096)
os.write(master, sys.argv[1].encode() + b"\\n")
out = p.stdout.read()
rest = b""
try:
    while True:
        d = os.read(master, 4096)
        if not d: break
        rest += d
except OSError:
    pass
sys.stdout.write(out.decode() + "---\\n" + (seen + rest).decode())
sys.exit(p.wait())
`;

/** ESC, CSI (C1) and CR: what cm must never print raw of a name or a file (they rewrite the terminal). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what is looked for
const RAW_CONTROL = /[\u001b\u009b\r]/;

for (const as of USERS) {
  describe(`cm trust (${as})`, () => {
    const sb = sandbox(as);
    const ok = (args: string[], env: Record<string, string> = {}) => {
      const r = sb.cm(args, { env });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };

    test("an untrusted cm.toml is not used by create: one line naming the file and cm trust, nothing made", () => {
      writeFileSync(join(sb.project, "cm.toml"), `[create]\nfrom = "dir:${fixtures.busybox}"\npost_create = ["touch /etc/x"]\n`, {
        mode: 0o644,
      });
      const r = sb.cm(["create"]);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, new RegExp(`${join(sb.project, "cm.toml")} is not trusted yet.*cm trust`));
      assert.equal(existsSync(sb.env.CM_HOME as string) && readdirSync(sb.env.CM_HOME as string).length > 0, false);
      assert.match(ok(["trust"]), /^trusted .*cm\.toml \(sha256 [0-9a-f]{64}\)\n$/);
      ok(["create", "-q"]);
    });

    test("a cm.toml written by the container (runtime = a script in the project) does not run it on the next cm run", () => {
      const evil = join(sb.project, "evil");
      const pwned = join(sb.project, "pwned");
      // inside: the project is /project; the host path of the script is the project's real path
      const inside = `rm -f /project/cm.toml && printf '#!/bin/sh\\ntouch ${pwned}\\n' > /project/evil && chmod 755 /project/evil && printf '[run]\\nruntime = "${evil}"\\n' > /project/cm.toml`;
      ok(["run", "--", "sh", "-c", inside]);
      assert.ok(existsSync(evil));
      const r = sb.cm(["run", "--", "echo", "hi"]);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /changed since you trusted it.*cm trust --show.*cm trust in /);
      assert.equal(existsSync(pwned), false, "the container's runtime ran on the host");
      // --show says what changed, without approving anything
      const show = ok(["trust", "--show"]);
      assert.match(show, /changed since approved/);
      assert.match(show, new RegExp(`^\\+ runtime = "${evil}"$`, "m"));
      assert.match(show, /^- post_create = \["touch \/etc\/x"\]$/m);
      assert.equal(sb.cm(["run", "--", "echo", "hi"]).status, 125);
      assert.equal(existsSync(pwned), false);
    });

    test("approved content is used; a change, a revoke or another directory need approval again; CM_TRUST_ALL=1 turns it off", () => {
      writeProjectFile(sb, '[run]\ncommand = ["echo", "from-toml"]\n');
      assert.equal(ok(["run"]), "from-toml\n");
      assert.match(ok(["trust", "--show"]), /: trusted \(approved /);
      writeFileSync(join(sb.project, "cm.toml"), '[run]\ncommand = ["echo", "changed"]\n');
      assert.equal(sb.cm(["run"]).status, 125);
      assert.equal(ok(["run"], { CM_TRUST_ALL: "1" }), "changed\n");
      ok(["trust"]);
      assert.equal(ok(["run"]), "changed\n");
      assert.match(ok(["trust", "--revoke"]), /^revoked /);
      const r = sb.cm(["run"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /is not trusted yet/);
      ok(["trust"]);
      // the same content at another path is another approval
      const other = sb.mkdir("work", "other");
      writeFileSync(join(other, "cm.toml"), '[run]\ncommand = ["echo", "changed"]\n', { mode: 0o644 });
      assert.match(sb.cm(["trust", "--show"], { cwd: other }).stdout, /: not trusted:\n\[run\]/);
    });

    test("a cm.toml that is a symbolic link is refused, approved or not", () => {
      const target = join(sb.dir, "elsewhere.toml");
      writeFileSync(target, '[run]\ncommand = ["echo", "x"]\n', { mode: 0o644 });
      const file = join(sb.project, "cm.toml");
      const saved = sb.exec("cat", [file]).stdout;
      sb.exec("rm", [file]);
      symlinkSync(target, file);
      try {
        for (const args of [["run"], ["trust"]]) {
          const r = sb.cm(args);
          assert.equal(r.status, 125, r.stderr);
          assert.ok(isOneLineError(r.stderr), r.stderr);
          assert.match(r.stderr, /is a symbolic link/);
        }
      } finally {
        sb.exec("rm", [file]);
        writeProjectFile(sb, saved);
      }
    });

    test("interactive: cm shows the new file and asks; yes approves and uses it, no refuses", () => {
      ok(["trust", "--revoke"]);
      writeFileSync(join(sb.project, "cm.toml"), '[run]\ncommand = ["echo", "asked"]\n', { mode: 0o644 });
      const no = sb.exec("python3", ["-c", PTY, "n", fixtures.bin, "run", "-T"]);
      assert.equal(no.status, 125, no.stdout);
      assert.match(no.stdout, /is not trusted yet:\r?\n\+ \[run\]\r?\n\+ command = \["echo", "asked"\]/);
      assert.match(no.stdout, /was not approved/);
      const yes = sb.exec("python3", ["-c", PTY, "y", fixtures.bin, "run", "-T"]);
      assert.equal(yes.status, 0, yes.stdout);
      assert.match(yes.stdout, /^asked\n---\n/);
      assert.equal(ok(["run"]), "asked\n", "approved for the next, non-interactive, run");
    });

    test("interactive cm trust shows the file and asks; no approves nothing, yes approves what was shown", () => {
      ok(["trust", "--revoke"]);
      writeFileSync(join(sb.project, "cm.toml"), '[run]\ncommand = ["echo", "shown"]\n', { mode: 0o644 });
      const no = sb.exec("python3", ["-c", PTY, "n", fixtures.bin, "trust"]);
      assert.equal(no.status, 125, no.stdout);
      assert.match(no.stdout, /is not trusted yet:\r?\n\+ \[run\]\r?\n\+ command = \["echo", "shown"\]\r?\ncm: approve it\? \[y\/N\]/);
      assert.match(no.stdout, /was not approved/);
      assert.equal(sb.cm(["run"]).status, 125, "not approved");
      const yes = sb.exec("python3", ["-c", PTY, "y", fixtures.bin, "trust"]);
      assert.equal(yes.status, 0, yes.stdout);
      assert.match(yes.stdout, /^trusted .*cm\.toml \(sha256 [0-9a-f]{64}\)\n---\n/);
      assert.equal(ok(["run"]), "shown\n");
    });

    test("cm trust --sha256 approves only the content that was reviewed: what a container wrote after the review is not approved", () => {
      ok(["trust", "--revoke"]);
      const reviewed = '[run]\ncommand = ["echo", "reviewed"]\n';
      writeFileSync(join(sb.project, "cm.toml"), reviewed, { mode: 0o644 });
      const shown = ok(["trust", "--show"]);
      const digest = /\nto approve exactly this content: cm trust --sha256 ([0-9a-f]{64})\n$/.exec(shown)?.[1];
      assert.ok(digest, shown);
      // between the review and the approval, a running container rewrites the file
      ok(["run", "--", "sh", "-c", `rm /project/cm.toml && printf '[run]\\nvolumes = ["/:/host"]\\n' > /project/cm.toml`], {
        CM_TRUST_ALL: "1",
      });
      let r = sb.cm(["trust", "--sha256", digest]);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /is not the content you reviewed: its sha256 is now [0-9a-f]{64}; nothing was approved.*cm trust --show/);
      r = sb.cm(["run", "--", "true"]);
      assert.equal(r.status, 125, "the container's content is not approved");
      assert.match(r.stderr, /is not trusted yet/);
      // the reviewed content is approved with its digest (any case)
      writeFileSync(join(sb.project, "cm.toml"), reviewed, { mode: 0o644 });
      assert.equal(ok(["trust", "--sha256", digest.toUpperCase()]), `trusted ${join(sb.project, "cm.toml")} (sha256 ${digest})\n`);
      assert.equal(ok(["run"]), "reviewed\n");
      for (const bad of [
        ["--sha256", "abc"],
        ["--sha256", digest, "--show"],
        ["--sha256", digest, "--revoke"],
      ]) {
        r = sb.cm(["trust", ...bad]);
        assert.notEqual(r.status, 0, bad.join(" "));
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /--sha256/);
      }
    });

    test("a cm.toml cannot rewrite what cm shows of it: control characters (C1 CSI, ESC, CR) are shown escaped, in --show, the prompt and a diff", () => {
      ok(["trust", "--revoke"]);
      // on terminals that act on C1 controls, U+009B is CSI: "\u009b2K\u009bG" erases the line it is on
      // (TOML allows C1 controls in comments; ESC and CR make the file invalid, but --show shows it as it is)
      const text = '[run]\ncommand = ["echo", "hidden"] # \u009b2K\u009bG+ # (the default command)\n';
      writeFileSync(join(sb.project, "cm.toml"), `${text}env = ["A=1"] # \u001b[1A\r\n`, { mode: 0o644 });
      const shown = ok(["trust", "--show"]);
      assert.match(
        shown,
        /command = \["echo", "hidden"\] # \\u009b2K\\u009bG\+ # \(the default command\)\nenv = \["A=1"\] # \\u001b\[1A\\u000d\n/,
      );
      assert.doesNotMatch(shown, RAW_CONTROL);
      writeFileSync(join(sb.project, "cm.toml"), text, { mode: 0o644 });
      const asked = sb.exec("python3", ["-c", PTY, "n", fixtures.bin, "run", "-T"]);
      assert.equal(asked.status, 125, asked.stdout);
      assert.match(asked.stdout, /\+ command = \["echo", "hidden"\] # \\u009b2K\\u009bG\+ # \(the default command\)/);
      assert.doesNotMatch(asked.stdout.replaceAll("\r\n", "\n"), RAW_CONTROL); // the terminal ends its lines with CR LF
      // and in the diff against an approved version
      writeFileSync(join(sb.project, "cm.toml"), '[run]\ncommand = ["echo", "hidden"]\n', { mode: 0o644 });
      ok(["trust"]);
      writeFileSync(join(sb.project, "cm.toml"), text, { mode: 0o644 });
      const diff = ok(["trust", "--show"]);
      assert.match(diff, /\+ command = \["echo", "hidden"\] # \\u009b2K/);
      assert.doesNotMatch(diff, RAW_CONTROL);
      ok(["trust", "--revoke"]);
    });

    test("volume sources and env_file in the project cannot lead out of it through a symbolic link", () => {
      const secret = join(sb.home, "secret.env");
      writeFileSync(secret, "TOKEN=host-secret\n", { mode: 0o644 });
      mkdirSync(join(sb.project, "cache"));
      writeFileSync(join(sb.project, "vars.env"), "A=1\n", { mode: 0o644 });
      chownSync(join(sb.project, "cache"), sb.uid, sb.gid);
      writeProjectFile(sb, '[run]\nvolumes = ["cache:/cache"]\nenv_file = "vars.env"\n');
      assert.equal(ok(["run", "--", "sh", "-c", "echo $A; test -d /cache && echo dir"]), "1\ndir\n");
      // the container swaps both for links out of the project
      ok([
        "run",
        "--",
        "sh",
        "-c",
        `rm -r /project/cache /project/vars.env && ln -s /etc /project/cache && ln -s ${secret} /project/vars.env`,
      ]);
      let r = sb.cm(["run", "--", "cat", "/cache/hostname"]);
      assert.equal(r.status, 125, r.stdout + r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /leads out of the project directory/);
      assert.doesNotMatch(r.stdout, /host-secret/);
      // the same for -v and --env-file given relative to the project
      sb.exec("rm", [join(sb.project, "cm.toml")]);
      r = sb.cm(["run", "-v", "./cache:/c", "--", "ls", "/c"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /volume source .*leads out of the project directory \(to \/etc\)/);
      r = sb.cm(["run", "--env-file", "vars.env", "--", "sh", "-c", "echo $TOKEN"]);
      assert.equal(r.status, 125);
      assert.match(r.stderr, /leads out of the project directory/);
      // a path outside the project, named as such, is the user's choice
      assert.equal(ok(["run", "--env-file", secret, "--", "sh", "-c", "echo $TOKEN"]), "host-secret\n");
    });

    test("a dir: source in the project cannot lead out of it through a symbolic link (create would copy it)", () => {
      const secret = sb.mkdir("secret-dir");
      writeFileSync(join(secret, "id_rsa"), "KEY\n", { mode: 0o644 });
      symlinkSync(secret, join(sb.project, "rootfs-src"));
      writeProjectFile(sb, '[bundle.fromdir.create]\nfrom = "dir:rootfs-src"\n');
      const r = sb.cm(["create", "fromdir"]);
      assert.equal(r.status, 125, r.stderr);
      assert.ok(isOneLineError(r.stderr), r.stderr);
      assert.match(r.stderr, /source dir: .*rootfs-src leads out of the project directory/);
      assert.equal(existsSync(join(sb.env.CM_HOME as string, "proj", "fromdir")), false);
    });
  });
}
