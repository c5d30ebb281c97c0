import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, type Sandbox, sandbox, spawnUntilReady, USERS, writeProjectFile } from "../helpers/cm.ts";

/** Writes the project's cm.toml (world-readable: the sandbox user reads it) and approves it. */
function projectFile(sb: Sandbox, text: string): void {
  writeProjectFile(sb, text);
}

function projectData(sb: Sandbox): string[] {
  const data = sb.env.CM_HOME as string;
  return existsSync(data) ? readdirSync(data).flatMap((k) => readdirSync(join(data, k)).map((b) => `${k}/${b}`)) : [];
}

function runs(sb: Sandbox): string[] {
  const dir = join(sb.env.CM_STATE_DIR as string, "runs");
  return existsSync(dir) ? readdirSync(dir) : [];
}

for (const as of USERS) {
  describe(`cm.toml (${as})`, () => {
    const sb = sandbox(as);

    test("create: from and post_create from the file; post_create changes the rootfs, sees /project, output shown", () => {
      projectFile(
        sb,
        `[create]
from = "dir:${fixtures.busybox}"
post_create = [
  "echo made-by-post-create > /etc/marker",
  "pwd > /etc/where; id -u > /etc/uid",
  "echo to-stdout; echo to-stderr >&2",
  "test -f /project/cm.toml",
]
`,
      );
      const r = sb.cm(["create"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /to-stdout/);
      assert.match(r.stderr, /to-stderr/);
      const check = sb.cm(["run", "--", "cat", "/etc/marker", "/etc/where", "/etc/uid"]);
      assert.equal(check.status, 0, check.stderr);
      assert.equal(check.stdout, "made-by-post-create\n/project\n0\n");
      assert.deepEqual(runs(sb), [], "no run state left by post_create");
      const list = JSON.parse(sb.cm(["list", "--json"]).stdout) as { bundle: string; source: string }[];
      assert.deepEqual(
        list.map((e) => [e.bundle, e.source]),
        [["default", `dir:${fixtures.busybox}`]],
      );
    });

    test("a failing post_create fails the create and leaves no bundle, no work directory, no run state", () => {
      projectFile(
        sb,
        `[create]
from = "dir:${fixtures.busybox}"

[bundle.bad.create]
post_create = ["echo partial > /etc/partial", "exit 3", "touch /etc/never"]
`,
      );
      const before = projectData(sb);
      const r = sb.cm(["create", "bad"]);
      assert.equal(r.status, 125, r.stderr);
      const last = r.stderr.trim().split("\n").pop() ?? "";
      assert.ok(isOneLineError(last), r.stderr);
      assert.match(last, /post_create command 2 of 3 failed with exit status 3: "exit 3"/);
      assert.deepEqual(projectData(sb), before, "nothing added under the data directory (not even a .creating dir)");
      assert.deepEqual(runs(sb), []);
      const list = sb.cm(["list"]);
      assert.doesNotMatch(list.stdout, /\bbad\b/);
      const missing = sb.cm(["run", "bad", "--", "true"]);
      assert.equal(missing.status, 125);
      assert.match(missing.stderr, /no bundle "bad"/);
    });

    test("an interrupted post_create (SIGINT) stops its container and leaves nothing behind", async () => {
      projectFile(sb, `[bundle.slow.create]\nfrom = "dir:${fixtures.busybox}"\npost_create = ["echo ready; sleep 60"]\n`);
      const before = projectData(sb);
      const { child, done } = await spawnUntilReady(sb, ["create", "slow"], "post_create to start");
      child.kill("SIGINT");
      const r = await done;
      assert.ok(r.signal === "SIGINT" || r.status === 130, `${r.status} ${r.signal} ${r.stderr}`);
      assert.deepEqual(projectData(sb), before);
      assert.deepEqual(runs(sb), []);
      const runc = join(sb.env.CM_STATE_DIR as string, "runc");
      assert.deepEqual(existsSync(runc) ? readdirSync(runc) : [], [], "no runc state left");
    });

    test("flags win over the file: --from replaces the file's source", () => {
      projectFile(sb, `[create]\nfrom = "tar:/nonexistent/rootfs.tar"\n`);
      const r = sb.cm(["create", "flagged", "--from", `dir:${fixtures.busybox}`]);
      assert.equal(r.status, 0, r.stderr);
      const bad = sb.cm(["create", "fromfile"]);
      assert.equal(bad.status, 125);
      assert.ok(isOneLineError(bad.stderr), bad.stderr);
      assert.match(bad.stderr, /nonexistent\/rootfs\.tar/);
    });

    test("run: every [run] key applies; [bundle.NAME.run] overrides; flags win", () => {
      sb.mkdir("work", "proj", "data");
      writeFileSync(join(sb.project, "data", "f"), "volume-content\n", { mode: 0o644 });
      writeFileSync(join(sb.project, "vars.env"), "FROM_FILE=1\nOVER=env-file\n", { mode: 0o644 });
      projectFile(
        sb,
        `[run]
command = ["sh", "-c", "pwd; echo A=$A OVER=$OVER FROM_FILE=$FROM_FILE HOSTV=$HOSTV; cat /data/f; grep -c : /proc/net/dev; touch /x 2>/dev/null && echo rw || echo ro"]
env = { A = "a", OVER = "table", HOSTV = true }
env_file = "vars.env"
volumes = ["data:/data:ro"]
network = "none"
workdir = "/data"
read_only = true
${as === "root" ? 'pids_limit = 64\ncpus = 0.5\nmemory = "64m"' : ""}

[bundle.flagged.run]
env = { A = "bundle" }
network = "host"
read_only = false
`,
      );
      const r = sb.cm(["run"], { env: { HOSTV: "from-host" } });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "/data\nA=a OVER=table FROM_FILE=1 HOSTV=from-host\nvolume-content\n1\nro\n");

      const b = sb.cm(["run", "flagged"], { env: { HOSTV: "h" } });
      assert.equal(b.status, 0, b.stderr);
      const lines = b.stdout.split("\n");
      assert.equal(lines[1], "A=bundle OVER=table FROM_FILE=1 HOSTV=h");
      assert.ok(Number(lines[3]) > 1, `host network: more than loopback (${lines[3]})`);
      assert.equal(lines[4], "rw");

      const f = sb.cm(["run", "-e", "OVER=flag", "-e", "HOSTV=x", "-w", "/project", "--", "sh", "-c", "pwd; echo $A $OVER"]);
      assert.equal(f.status, 0, f.stderr);
      assert.equal(f.stdout, "/project\na flag\n");
    });

    if (as === "root") {
      test("run: memory, cpus, pids_limit from the file reach the container's cgroups", () => {
        const r = sb.cm([
          "run",
          "--",
          "cat",
          "/sys/fs/cgroup/memory/memory.limit_in_bytes",
          "/sys/fs/cgroup/pids/pids.max",
          "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        ]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trim().split("\n"), [String(64 * 1024 * 1024), "64", "50000"]);
      });
    } else {
      test("run: a limit from the file is refused rootless on cgroup v1 as the flag is, naming file, line and key", () => {
        projectFile(sb, `[run]\ncommand = ["true"]\n\n[bundle.default.run]\npids_limit = 10\n`);
        const r = sb.cm(["run"]);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.match(r.stderr, /cm\.toml:5: bundle\.default\.run\.pids_limit: this limit cannot be enforced for a rootless container/);
        projectFile(sb, `[run]\ncommand = ["true"]\n`);
        const flag = sb.cm(["run", "--memory", "64m"]);
        assert.equal(flag.status, 125);
        assert.match(flag.stderr, /^cm: --memory cannot be enforced/);
      });
    }

    test("bad files: one-line errors naming file, line and key; nothing created", () => {
      const file = join(sb.project, "cm.toml");
      const cases: [string, string[], RegExp][] = [
        ['[run]\nmemory = "1g"\nmemroy = "2g"\n', ["run", "--", "true"], /cm\.toml:3: run\.memroy: unknown key/],
        ['[run]\ncpus = "two"\n', ["run", "--", "true"], /cm\.toml:2: run\.cpus: must be a number/],
        ['[run]\nnetwork = "bridge"\n', ["run", "--", "true"], /cm\.toml:2: run\.network: invalid value "bridge"/],
        [
          '[create]\npackages = [\n  "ok",\n  "NOT OK",\n]\n',
          ["create", "x"],
          /cm\.toml:4: create\.packages\[1\]: invalid Debian package name/,
        ],
        [
          '[bundle.x.create]\npost_create = "echo"\n',
          ["create", "x"],
          /cm\.toml:2: bundle\.x\.create\.post_create: must be an array of strings/,
        ],
        ["[run\n", ["run", "--", "true"], /cm\.toml:1: invalid TOML/],
      ];
      const before = projectData(sb);
      for (const [text, args, pattern] of cases) {
        projectFile(sb, text);
        const r = sb.cm(args);
        assert.equal(r.status, 125, `${text}: ${r.stderr}`);
        assert.ok(isOneLineError(r.stderr), r.stderr);
        assert.ok(r.stderr.includes(file), r.stderr);
        assert.match(r.stderr, pattern);
        assert.equal(r.stdout, "");
      }
      assert.deepEqual(projectData(sb), before);
    });

    test("post_create in a real Debian root filesystem (tarball source): dpkg works, APT is non-interactive", () => {
      const deb = sandbox(as, "debproj");
      projectFile(
        deb,
        `[create]
from = "tar:${fixtures.debianTar}"
post_create = ["dpkg-query -W bash > /etc/pkg", "echo $DEBIAN_FRONTEND > /etc/frontend", "apt-get --version | head -n 1 > /etc/apt-version"]
`,
      );
      const r = deb.cm(["create", "-q"]);
      assert.equal(r.status, 0, r.stderr);
      const check = deb.cm(["run", "--", "cat", "/etc/pkg", "/etc/frontend", "/etc/apt-version"]);
      assert.equal(check.status, 0, check.stderr);
      assert.match(check.stdout, /^bash\t5\.\S+\nnoninteractive\napt \d/);
    });

    test("no cm.toml: the built-in defaults", () => {
      rmSync(join(sb.project, "cm.toml"));
      const r = sb.cm(["run", "--", "sh", "-c", "pwd; env | grep -c ^A= || true"]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, "/project\n0\n");
    });
  });
}
