/**
 * cm on a real systemd + cgroup v2 machine (Debian 12: systemd 252, runc 1.1.5, crun 1.8.1),
 * booted once as a QEMU guest (test/vm/guest.ts): limits rootless and as root, visible inside and
 * enforced, with runc and crun; detached runs, stop, ps, exec, gc, delete and kill -9 of cm
 * leave no scope or cgroup behind; a user without the cpu controller delegated gets a refusal
 * with the drop-in to add; cm doctor's cgroup and systemd lines.
 *
 * Users in the guest: root; dev (uid 1000, systemd's default delegation: cpu memory pids) and
 * nodeleg (uid 1001, its user manager given only memory and pids), each in a real login session
 * (su -l). One boot runs every check (the guest boots in 15-50 s under emulation); each check
 * then becomes a test case here.
 */
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { before, describe, test } from "node:test";
import { type BootResult, bootGuest, type CheckResult, type GuestCheck, guestImage } from "./guest.ts";

const MIB64 = "67108864";
/** what lists cm's scopes and cgroups: empty when nothing is left */
const LEFT_USER = `systemctl --user list-units --all --no-legend 'cm-*.scope'; find /sys/fs/cgroup -name 'cm-*.scope'`;
const LEFT_ROOT = `systemctl list-units --all --no-legend 'cm-*.scope'; find /sys/fs/cgroup -name 'cm-*.scope'`;
const CREATE = "cm create --from dir:/var/tmp/busybox-rootfs -q";
const SHOW_LIMITS = "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max";
const OOM = "dd if=/dev/zero of=/dev/null bs=100M count=1";
/** Waits for cm's one scope (foreground runs), prints its unit name. */
const waitScope = (user: boolean) =>
  `for i in $(seq 120); do u=$(systemctl ${user ? "--user " : ""}list-units --no-legend --plain 'cm-*.scope' | awk '{print $1}'); [ -n "$u" ] && break; sleep 0.5; done`;

/** The checks for one user: dev or root (the same commands, as the README promises). */
function checksFor(as: "dev" | "root"): GuestCheck[] {
  const p = as === "root" ? "root-" : "";
  const left = as === "root" ? LEFT_ROOT : LEFT_USER;
  const user = as !== "root";
  return [
    { name: `${p}create`, as, sh: CREATE },
    {
      name: `${p}plain`,
      as,
      // a run without limits: no scope, the container stays in the caller's cgroup (rootless) or gets a plain one (root)
      sh: `id=$(cm run -d -- sleep 300) && pid=$(cm ps --json | grep -o '"pid": *[0-9]*' | grep -o '[0-9]*$') && echo "CGROUP $(cat /proc/$pid/cgroup)"; echo UNITS; systemctl ${user ? "--user " : ""}list-units --all --no-legend 'cm-*.scope'; cm stop --time 1 $id >/dev/null; cm run -- echo hi`,
    },
    { name: `${p}limits`, as, sh: `cm run --memory 64m --cpus 0.5 --pids-limit 50 -- sh -c '${SHOW_LIMITS}'` },
    { name: `${p}readme-limits`, as, sh: "cm run --memory 512m --cpus 1.5 --pids-limit 200 -- true" },
    { name: `${p}oom`, as, sh: `cm run --memory 32m -- ${OOM}` },
    // one process killed for memory: the container goes on (as on cgroup v1 and with Docker)
    { name: `${p}oom-one`, as, sh: `cm run --memory 48m -- sh -c '${OOM}; echo "after=$?"'` },
    { name: `${p}pids`, as, sh: `cm run --pids-limit 8 -- sh -c 'for i in $(seq 20); do sleep 3 & done; wait'` },
    {
      name: `${p}cpu`,
      as,
      sh: `cm run --cpus 0.05 -- sh -c 'i=0; while [ $i -lt 5000 ]; do i=$((i+1)); done; grep nr_throttled /sys/fs/cgroup/cpu.stat'`,
    },
    { name: `${p}crun`, as, sh: "cm run --runtime crun -- echo hi" },
    { name: `${p}crun-limits`, as, sh: `cm run --runtime crun --memory 64m --cpus 0.5 --pids-limit 50 -- sh -c '${SHOW_LIMITS}'` },
    { name: `${p}crun-oom`, as, sh: `cm run --runtime crun --memory 32m -- ${OOM}` },
    {
      name: `${p}crun-exec`,
      as,
      sh: `id=$(cm run -d --runtime crun --memory 64m -- sleep 300) || exit 1; cm exec $id -- cat /sys/fs/cgroup/memory.max; echo "exec=$?"; cm stop --time 1 $id >/dev/null; cm gc >/dev/null; echo AFTER; ${left}`,
    },
    {
      name: `${p}detached`,
      as,
      sh: [
        "id=$(cm run -d --memory 64m --pids-limit 40 -- sleep 300) || exit 1",
        `echo "SCOPE $(systemctl ${user ? "--user " : ""}is-active cm-$id.scope)"`,
        "cm ps | grep -c running",
        "cm exec $id -- cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max",
        "cm stop --time 1 $id >/dev/null; cm gc >/dev/null",
        `echo AFTER; ${left}`,
      ].join("\n"),
    },
    {
      name: `${p}delete-running`,
      as,
      sh: `cm run -d --memory 64m -- sleep 300 >/dev/null && cm delete && echo AFTER && ${left}; ${CREATE}`,
    },
    {
      name: `${p}kill9`,
      as,
      // cm killed with SIGKILL while its container runs in a scope: cm stop and cm gc still clean up
      sh: [
        "cm run --memory 64m -- sleep 300 & p=$!",
        waitScope(user),
        'echo "UNIT $u"; kill -9 $p; sleep 1',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
        "id=${u#cm-}; id=${id%.scope}",
        "cm ps | grep $id",
        "cm stop --time 1 $id; cm gc >/dev/null",
        `echo AFTER; ${left}`,
      ].join("\n"),
    },
    { name: `${p}doctor`, as, sh: "cm doctor" },
    {
      name: `${p}review`,
      as,
      // a directory of the project replaced whole under --review: overlayfs needs xattrs on the
      // upper's file system (Debian 12's 6.1 kernel: a tmpfs has no user.* xattrs, rm -r got EIO)
      sh: [
        "mkdir -p rv && echo old > rv/f",
        "cm run --review -- sh -c 'rm -r /project/rv && mkdir /project/rv && echo new > /project/rv/g' || exit 1",
        "cm diff --stat; cm apply || exit 1",
        'echo "AFTER $(ls rv) $(ls -A ~/.local/share/cm | grep -c "^\\.reviews$")"',
      ].join("\n"),
    },
    {
      name: `${p}ephemeral`,
      as,
      // the same for the root file system under --ephemeral; the bundle keeps its directory
      sh: [
        "cm run -- sh -c 'mkdir -p /srv/d && echo o > /srv/d/o' || exit 1",
        "cm run --ephemeral -- sh -c 'rm -r /srv/d && mkdir /srv/d && echo x > /srv/d/x && cat /srv/d/x' || exit 1",
        'echo "AFTER $(cm run -- ls /srv/d) $(ls -A ~/.local/share/cm | grep -c "^\\.ephemeral$")"',
      ].join("\n"),
    },
  ];
}

const CHECKS: GuestCheck[] = [
  {
    name: "root-layout",
    as: "root",
    sh: "stat -fc %T /sys/fs/cgroup; systemctl --version | head -1; runc --version | head -1; crun --version | head -1",
  },
  ...checksFor("root"),
  {
    name: "session",
    as: "dev",
    sh: 'echo "XDG_RUNTIME_DIR=$XDG_RUNTIME_DIR"; cat /proc/self/cgroup; test -S "$XDG_RUNTIME_DIR/bus" && echo bus-ok; cat /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers',
  },
  ...checksFor("dev"),
  {
    name: "no-bus",
    as: "dev",
    // no D-Bus reachable: a run without limits works as ever, one with a limit is refused
    sh: "export CM_STATE_DIR=/tmp/nobus-state XDG_RUNTIME_DIR=/tmp/nobus; unset DBUS_SESSION_BUS_ADDRESS; mkdir -p $XDG_RUNTIME_DIR; cm run -- echo ok; cm run --memory 64m -- echo ran; echo rc=$?",
  },
  {
    name: "nodeleg-create",
    as: "nodeleg",
    sh: `cat /sys/fs/cgroup/user.slice/user-1001.slice/user@1001.service/cgroup.controllers; ${CREATE}`,
  },
  { name: "nodeleg-cpu", as: "nodeleg", sh: "cm run --cpus 0.5 -- touch /project/ran; echo rc=$?; ls ran" },
  { name: "nodeleg-crun-cpu", as: "nodeleg", sh: "cm run --runtime crun --cpus 0.5 -- touch /project/ran; echo rc=$?; ls ran" },
  { name: "nodeleg-memory", as: "nodeleg", sh: "cm run --memory 64m -- cat /sys/fs/cgroup/memory.max" },
  { name: "nodeleg-doctor", as: "nodeleg", sh: "cm doctor" },
  {
    name: "leftovers",
    as: "root",
    // nothing of any run above is left: no cm scope, no cgroup named after a container ID, no runtime state
    sh: "systemctl list-units --all --no-legend 'cm-*.scope'; find /sys/fs/cgroup -regextype egrep \\( -name 'cm-*.scope' -o -regex '.*/[0-9a-f]{12}' \\) -print; find /run/cm /run/user/1000/cm /run/user/1001/cm -mindepth 2 -maxdepth 2 \\( -path '*/runc/*' -o -path '*/runtime-*/*' -o -path '*/runs/*' \\) 2>/dev/null",
  },
];

/** The part of a check's stdout after its AFTER marker: what was left behind. */
const after = (r: CheckResult) => r.stdout.slice(r.stdout.indexOf("AFTER\n") + 6).trim();

let boot: BootResult;
const result = (name: string): CheckResult => {
  const r = boot?.results.get(name);
  if (!r) throw new Error(`check ${name} has no result (the guest did not run it): guest log:\n${boot?.log.slice(-3000)}`);
  return r;
};
const ok = (name: string): CheckResult => {
  const r = result(name);
  assert.equal(r.status, 0, `${name}: status ${r.status}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
};

describe("systemd + cgroup v2 guest", { timeout: 45 * 60_000 }, () => {
  before(
    async () => {
      const install = process.env.CM_TEST_BIN;
      if (!install) throw new Error("CM_TEST_BIN is not set: run through npm test (the global setup installs cm)");
      const image = guestImage();
      boot = await bootGuest({
        image,
        installDir: dirname(dirname(install)),
        checks: CHECKS,
        // measured 6-7 min on 2 loaded cores; emulation slows 3x more when the host is busy
        timeoutMs: 22 * 60_000,
        // nodeleg's user manager gets memory and pids only (as systemd < 252 gives everyone)
        setup:
          "mkdir -p /etc/systemd/system/user@1001.service.d && printf '[Service]\\nDelegate=\\nDelegate=memory pids\\n' > /etc/systemd/system/user@1001.service.d/delegate.conf && systemctl daemon-reload",
      });
      process.stderr.write(
        `# guest: command started ${boot.bootSeconds.toFixed(1)} s after boot, whole boot ${boot.wallSeconds.toFixed(0)} s\n`,
      );
    },
    { timeout: 42 * 60_000 }, // an image build (once per machine, ~1.5-4 min) and the boot
  );

  test("the guest is what users have: cgroup2, systemd, a login session with its bus", () => {
    const layout = ok("root-layout").stdout.split("\n");
    assert.equal(layout[0], "cgroup2fs");
    assert.match(layout[1] ?? "", /^systemd 252/);
    assert.match(layout[2] ?? "", /^runc version 1\.1\./);
    const s = ok("session").stdout;
    assert.match(s, /^XDG_RUNTIME_DIR=\/run\/user\/1000$/m);
    assert.match(s, /^0::\/user\.slice\/user-1000\.slice\/session-\w+\.scope$/m);
    assert.match(s, /^bus-ok$/m);
    assert.match(s, /^cpu memory pids$/m, "systemd 252's default delegation");
  });

  for (const as of ["root", "dev"] as const) {
    const p = as === "root" ? "root-" : "";
    const who = as === "root" ? "root" : "rootless (dev, login session)";
    describe(who, () => {
      test("a run without limits uses no scope", () => {
        ok(`${p}create`);
        const r = ok(`${p}plain`);
        assert.match(r.stdout, /^hi$/m);
        assert.equal(
          r.stdout.slice(r.stdout.indexOf("UNITS\n") + 6, r.stdout.indexOf("hi\n")).trim(),
          "",
          "no cm scope for a run without limits",
        );
        assert.doesNotMatch(r.stdout, /^CGROUP .*cm-/m);
        if (as === "dev") assert.match(r.stdout, /^CGROUP 0::\/user\.slice\/user-1000\.slice\/session-\w+\.scope$/m);
      });
      test("--memory --cpus --pids-limit are visible inside (memory.max, cpu.max, pids.max)", () => {
        const r = ok(`${p}limits`);
        assert.equal(r.stdout, `${MIB64}\n50000 100000\n50\n`);
        assert.equal(r.stderr, "", "no runtime log lines");
        ok(`${p}readme-limits`);
      });
      test("--memory is enforced: an out-of-memory kill exits 137 and is named", () => {
        const r = result(`${p}oom`);
        assert.equal(r.status, 137, r.stderr);
        assert.equal(r.stderr, "cm: killed: out of memory (limit 32 MiB)\n", "one cm: line, no runtime or init log line");
        const one = ok(`${p}oom-one`);
        assert.match(one.stdout, /^after=137$/m, "the shell outlived its killed dd");
      });
      test("--pids-limit is enforced: forks fail", () => {
        const r = result(`${p}pids`);
        assert.match(r.stderr, /can't fork/);
      });
      test("--cpus is enforced: the container is throttled", () => {
        const n = Number(/nr_throttled (\d+)/.exec(ok(`${p}cpu`).stdout)?.[1]);
        assert.ok(n > 0, `nr_throttled ${n}`);
      });
      test("--runtime crun: run, limits, out-of-memory, exec", () => {
        assert.equal(ok(`${p}crun`).stdout, "hi\n");
        assert.equal(ok(`${p}crun-limits`).stdout, `${MIB64}\n50000 100000\n50\n`);
        assert.equal(result(`${p}crun-oom`).status, 137);
        const e = ok(`${p}crun-exec`);
        assert.match(e.stdout, new RegExp(`^${MIB64}\nexec=0$`, "m"), e.stderr);
        assert.equal(after(e), "", "nothing left after stop and gc");
      });
      test("detached with limits: a scope while it runs; ps, exec, stop, gc leave nothing", () => {
        const r = ok(`${p}detached`);
        assert.match(r.stdout, /^SCOPE active$/m);
        assert.match(r.stdout, /^1$/m);
        assert.match(r.stdout, new RegExp(`^${MIB64}\\n40$`, "m"));
        assert.equal(after(r), "");
      });
      test("cm delete stops a limited container and leaves no scope", () => {
        const r = ok(`${p}delete-running`);
        assert.equal(
          after(r)
            .split("\n")
            .filter((l) => /cm-/.test(l))
            .join("\n"),
          "",
        );
      });
      test("kill -9 of cm: the container is still listed, cm stop and cm gc clean up", () => {
        const r = ok(`${p}kill9`);
        assert.match(r.stdout, /^UNIT cm-[0-9a-f]{12}\.scope$/m);
        assert.match(r.stdout, /running/);
        assert.equal(after(r), "");
      });
      test("--review: a directory replaced whole is held back and applied; the layer is on disk and gone after", () => {
        const r = ok(`${p}review`);
        assert.doesNotMatch(r.stderr, /Input\/output error/);
        assert.match(r.stdout, /^D rv\/f( |$)/m);
        assert.match(r.stdout, /^A rv\/g( |$)/m);
        assert.match(r.stdout, /^AFTER g 0$/m);
      });
      test("--ephemeral: a directory of the root file system replaced whole; the bundle untouched, nothing left", () => {
        const r = ok(`${p}ephemeral`);
        assert.doesNotMatch(r.stderr, /Input\/output error/);
        assert.match(r.stdout, /^x$/m);
        assert.match(r.stdout, /^AFTER o 0$/m);
      });
      test("cm doctor: cgroup v2, delegated controllers, the cgroup driver's bus", () => {
        const r = result(`${p}doctor`);
        assert.match(r.stdout, /cgroups\s+cgroup v2/);
        if (as === "dev") {
          assert.match(r.stdout, /delegated to dev.*cpu.*memory.*pids/);
          assert.match(r.stdout, /OK\s+systemd\s+.*user@1000\.service.*\/run\/user\/1000\/bus/);
        } else {
          assert.match(r.stdout, /OK\s+systemd\s+.*system bus/);
        }
      });
    });
  }

  test("no D-Bus: runs without limits work, a limit is refused in one line", () => {
    const r = ok("no-bus");
    assert.match(r.stdout, /^ok$/m);
    assert.doesNotMatch(r.stdout, /^ran$/m);
    assert.match(r.stdout, /^rc=125$/m);
    assert.match(r.stderr, /^cm: --memory cannot be enforced .*D-Bus is not reachable/m);
  });

  describe("a user without the cpu controller delegated", () => {
    test("its manager has memory and pids only", () => {
      assert.match(ok("nodeleg-create").stdout, /^memory pids$/m);
    });
    test("--cpus is refused before anything runs, with the drop-in to add", () => {
      for (const name of ["nodeleg-cpu", "nodeleg-crun-cpu"]) {
        const r = result(name);
        assert.match(r.stdout, /^rc=125$/m, name);
        assert.notEqual(r.status, 0, `${name}: the command ran (/project/ran exists)`);
        const lines = r.stderr
          .trim()
          .split("\n")
          .filter((l) => !l.startsWith("ls:"));
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0] ?? "", /^cm: --cpus cannot be enforced .*cpu controller is not delegated/);
        assert.match(lines[0] ?? "", /\/etc\/systemd\/system\/user@\.service\.d\/delegate\.conf/);
        assert.match(lines[0] ?? "", /Delegate=cpu cpuset io memory pids/);
      }
    });
    test("--memory still works", () => {
      assert.equal(ok("nodeleg-memory").stdout, `${MIB64}\n`);
    });
    test("cm doctor says which controller is missing and how to delegate it", () => {
      const r = result("nodeleg-doctor").stdout;
      assert.match(r, /WARN\s+cgroups\s+.*not delegated.*cpu/);
      assert.match(r, /delegate\.conf/);
    });
  });

  test("nothing is left: no scope, no cgroup, no runtime state", () => {
    assert.equal(result("leftovers").stdout.trim(), "");
  });
});
