import assert from "node:assert/strict";
import { rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, USERS, writeProjectFile } from "../helpers/cm.ts";

/**
 * Files cm reads from the project directory (cm.toml, its env_file), which code in a container can
 * write: a FIFO, a device or a symlink to a host file planted there must give one clear error on the
 * next run, never a cm that hangs, reads without end, or reads a host file as the project's.
 * The timeout below only keeps a regression from hanging the suite; the assertion is on the status.
 */
for (const as of USERS) {
  describe(`files planted in the project by a container (${as})`, () => {
    const sb = sandbox(as);
    const cmToml = join(sb.project, "cm.toml");

    test("create the bundle", () => {
      const r = sb.cm(["create", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
    });

    const planted: [string, string, RegExp][] = [
      ["a FIFO", "mkfifo /project/cm.toml", /cm\.toml: it is not a regular file/],
      ["a symlink to /dev/zero", "ln -s /dev/zero /project/cm.toml", /cm\.toml: it is a symbolic link/],
      ["a symlink to a host file", "ln -s /etc/passwd /project/cm.toml", /cm\.toml: it is a symbolic link/],
      ["larger than 1 MiB", "head -c 2000000 /dev/zero | tr '\\0' '#' > /project/cm.toml", /cm\.toml: it is larger than 1 MiB/],
    ];
    for (const [what, plant, message] of planted) {
      test(`cm.toml made ${what} inside: the next run is refused in one line, at once`, () => {
        rmSync(cmToml, { force: true });
        const p = sb.cm(["run", "--", "sh", "-c", plant]);
        assert.equal(p.status, 0, p.stderr);
        const r = sb.cm(["run", "--", "true"], { timeoutMs: 60_000 });
        assert.equal(r.signal, null, "cm hung on the planted file");
        assert.equal(r.status, 125, r.stderr);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, message);
        rmSync(cmToml, { force: true });
      });
    }

    test("cm.toml's env_file made a FIFO or a symlink inside: refused in one line; a regular one works", () => {
      writeProjectFile(sb, '[run]\nenv_file = "app.env"\n');
      const env = join(sb.project, "app.env");
      writeFileSync(env, "GREETING=hello\n", { mode: 0o644 });
      const ok = sb.cm(["run", "--", "sh", "-c", 'echo "$GREETING"']);
      assert.equal(ok.status, 0, ok.stderr);
      assert.equal(ok.stdout, "hello\n");
      const p = sb.cm(["run", "--", "sh", "-c", "rm /project/app.env && mkfifo /project/app.env"]);
      assert.equal(p.status, 0, p.stderr);
      const fifo = sb.cm(["run", "--", "true"], { timeoutMs: 60_000 });
      assert.equal(fifo.signal, null, "cm hung on the planted FIFO");
      assert.equal(fifo.status, 125, fifo.stderr);
      assert.ok(isOneLineError(fifo.stderr), fifo.stderr);
      assert.match(fifo.stderr, /run\.env_file .*app\.env: not a regular file/);
      rmSync(env);
      symlinkSync("/etc/hostname", env);
      const link = sb.cm(["run", "--", "true"]);
      assert.equal(link.status, 125, link.stderr);
      assert.ok(isOneLineError(link.stderr), link.stderr);
      assert.match(link.stderr, /run\.env_file .*app\.env leads out of the project directory/);
      rmSync(env);
      rmSync(cmToml);
    });

    test("--env-file typed by the user may be a symlink (it is not the project's), but not a FIFO", () => {
      const target = join(sb.dir, "real.env");
      writeFileSync(target, "A=1\n", { mode: 0o644 });
      const link = join(sb.dir, "link.env");
      symlinkSync(target, link);
      const r = sb.cm(["run", "--env-file", link, "--", "sh", "-c", 'echo "$A"']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "1\n");
      const p = sb.cm(["run", "--", "mkfifo", "/project/x.env"]);
      assert.equal(p.status, 0, p.stderr);
      const fifo = sb.cm(["run", "--env-file", join(sb.project, "x.env"), "--", "true"], { timeoutMs: 60_000 });
      assert.equal(fifo.signal, null, "cm hung on the FIFO");
      assert.equal(fifo.status, 125, fifo.stderr);
      assert.match(fifo.stderr, /--env-file .*x\.env: not a regular file/);
      rmSync(join(sb.project, "x.env"));
    });
  });
}
