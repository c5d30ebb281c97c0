import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { fixtures, isOneLineError, sandbox, spawnUntilReady, USERS, waitFor } from "../helpers/cm.ts";

interface Entry {
  id: string;
  project: string;
  bundle: string;
  status: string;
  pid: number | null;
  started: string;
  ended: string | null;
  exitCode: number | null;
  command: string[];
  detached: boolean;
  runtime: string;
}

for (const as of USERS) {
  describe(`cm ps (${as})`, () => {
    const sb = sandbox(as, "psproj");
    const ps = (...args: string[]): Entry[] => {
      const r = sb.cm(["ps", "--json", ...args]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as Entry[];
    };
    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
      assert.equal(sb.cm(["create", "other", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("no containers: an empty list, and a header only", () => {
      assert.deepEqual(ps(), []);
      assert.deepEqual(ps("--all"), []);
      const r = sb.cm(["ps"]);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^ID\s+PROJECT\s+BUNDLE\s+STATUS\s+PID\s+STARTED\s+COMMAND\n$/);
    });

    test("foreground and detached containers are listed with their fields; --all adds exited ones", async () => {
      const { child: fg, done } = await spawnUntilReady(
        sb,
        ["run", "other", "--", "sh", "-c", "echo ready; sleep 30"],
        "the foreground container",
      );
      const d = sb.cm(["run", "-d", "--", "sleep", "30"]);
      assert.equal(d.status, 0, d.stderr);
      const id = d.stdout.trim();
      assert.match(id, /^[0-9a-f]{12}$/);
      const started = sb.cm(["run", "-d", "--", "sh", "-c", "exit 4"]);
      assert.equal(started.status, 0, started.stderr);
      const quick = started.stdout.trim();
      await waitFor("the quick one to exit", () => ps("--all").some((e) => e.id === quick && e.status === "exited")).catch((err) => {
        throw new Error(`${(err as Error).message}: ${JSON.stringify(ps("--all").find((e) => e.id === quick))}`);
      });

      const running = ps();
      assert.equal(running.length, 2);
      const det = running.find((e) => e.id === id) as Entry;
      assert.equal(det.project, "psproj");
      assert.equal(det.bundle, "default");
      assert.equal(det.status, "running");
      assert.ok(typeof det.pid === "number" && det.pid > 1);
      assert.deepEqual(det.command, ["sleep", "30"]);
      assert.equal(det.detached, true);
      assert.equal(det.exitCode, null);
      assert.equal(det.ended, null);
      assert.match(det.runtime, /runc$/);
      assert.ok(!Number.isNaN(Date.parse(det.started)));
      const fgEntry = running.find((e) => e.id !== id) as Entry;
      assert.equal(fgEntry.bundle, "other");
      assert.equal(fgEntry.detached, false);
      assert.deepEqual(Object.keys(det).sort(), [
        "bundle",
        "command",
        "detached",
        "ended",
        "exitCode",
        "id",
        "oomKilled",
        "pid",
        "project",
        "review",
        "runtime",
        "started",
        "status",
      ]);

      const all = ps("--all");
      const q = all.find((e) => e.id === quick) as Entry;
      assert.equal(q.status, "exited");
      assert.equal(q.exitCode, 4);
      assert.equal((q as unknown as { oomKilled: boolean }).oomKilled, false);
      assert.equal(q.pid, null);
      assert.ok(q.ended !== null);

      const table = sb.cm(["ps", "-a"]).stdout;
      assert.match(table, new RegExp(`^${id}\\s+psproj\\s+default\\s+running\\s+\\d+\\s+\\S+ \\S+\\s+sleep 30$`, "m"));
      assert.match(table, new RegExp(`^${quick}\\s+psproj\\s+default\\s+exited \\(4\\)\\s+-\\s+.*sh -c "exit 4"$`, "m"));

      assert.equal(sb.cm(["stop", "--time", "0", id]).status, 0);
      fg.kill("SIGTERM");
      await done;
      assert.deepEqual(ps(), []);
    });

    test("detached commands that end at once: each cm run -d prints its ID (it started), cm ps has its status", async () => {
      // the container can start and end between two looks of cm run -d at the run directory: that is a start
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const r = sb.cm(["run", "-d", "--", "sh", "-c", `exit ${i % 3 === 0 ? 0 : 4}`]);
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /^[0-9a-f]{12}\n$/);
        ids.push(r.stdout.trim());
      }
      await waitFor("all to be exited", () => ps("--all").filter((e) => ids.includes(e.id) && e.status === "exited").length === ids.length);
      const codes = ps("--all")
        .filter((e) => ids.includes(e.id))
        .map((e) => e.exitCode);
      assert.deepEqual(codes.sort(), ids.map((_, i) => (i % 3 === 0 ? 0 : 4)).sort());
      assert.equal(sb.cm(["gc"]).status, 0);
    });

    test("bad arguments: one-line errors", () => {
      for (const args of [
        ["ps", "extra"],
        ["ps", "--bogus"],
      ]) {
        const r = sb.cm(args);
        assert.equal(r.status, 125);
        assert.ok(isOneLineError(r.stderr), r.stderr);
      }
    });
  });
}
