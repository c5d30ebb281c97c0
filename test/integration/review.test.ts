/**
 * --review, cm diff / apply / discard: a busybox run creates, modifies, deletes, renames, chmods and
 * symlinks in /project; the host project stays as it was until cm apply, which writes exactly the
 * run's result, refuses files changed on the host meanwhile, and cm discard leaves nothing.
 */
import assert from "node:assert/strict";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { startTime } from "../../src/host/pid.ts";
import { fixtures, isOneLineError, sandbox, spawnUntilReady, USERS } from "../helpers/cm.ts";

/** path -> "file:MODE:content" | "dir:MODE" | "link:target", for the whole tree */
function snapshot(root: string, rel = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel ? `${rel}/${name}` : name;
    const st = lstatSync(join(root, p));
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[p] = `link:${readlinkSync(join(root, p))}`;
    else if (st.isDirectory()) {
      out[p] = `dir:${mode}`;
      Object.assign(out, snapshot(root, p));
    } else out[p] = `file:${mode}:${readFileSync(join(root, p), "utf8")}`;
  }
  return out;
}

const SCRIPT = [
  "cd /project",
  "echo changed >> mod.txt",
  "echo new > new.txt",
  "rm del.txt",
  "mv ren.txt renamed.txt",
  "chmod 755 tool.sh",
  "ln -s mod.txt link",
  "rm -rf gone",
  "rm -rf again && mkdir again && echo fresh > again/fresh",
  "mkdir -p newdir/deep && echo d > newdir/deep/f",
].join(" && ");

/** The review ID in the line a reviewed run ends with ("... cm diff ID | ..."). */
function reviewId(stderr: string): string {
  return /cm diff ([0-9a-f]{12})/.exec(stderr)?.[1] as string;
}

for (const as of USERS) {
  describe(`cm run --review (${as})`, () => {
    const sb = sandbox(as, "reviewproj");
    const reviewsDir = () => join(sb.env.CM_HOME as string, ".reviews");
    /** `cm run --review -- sh -c SCRIPT` */
    const runReviewed = (script: string) => sb.cm(["run", "--review", "--", "sh", "-c", script]);
    const seed = () => {
      sb.exec("sh", [
        "-c",
        [
          `cd ${sb.project}`,
          "rm -rf ./*",
          "printf 'one\\n' > mod.txt",
          "echo del > del.txt",
          "echo ren > ren.txt",
          "echo '#!/bin/sh' > tool.sh",
          "chmod 644 tool.sh",
          "mkdir -p gone/sub && echo g > gone/sub/g",
          "mkdir -p again/old && echo o > again/old/o",
          "echo keep > keep.txt",
        ].join(" && "),
      ]);
    };

    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("the host is untouched, diff is exact, apply makes the project what the run saw", () => {
      seed();
      const before = snapshot(sb.project);
      const r = runReviewed(`${SCRIPT} && find /project | sort > /tmp/seen && cat /tmp/seen`);
      assert.equal(r.status, 0, r.stderr);
      const id = /cm diff ([0-9a-f]+)/.exec(r.stderr)?.[1] as string;
      assert.ok(id, r.stderr);
      assert.match(
        r.stderr,
        /cm: review: 16 changes to \/project held back: cm diff [0-9a-f]+ \| cm apply [0-9a-f]+ \| cm discard [0-9a-f]+\n$/,
      );
      assert.deepEqual(snapshot(sb.project), before, "the host project changed during a --review run");

      const list = sb
        .cm(["diff", "--stat"])
        .stdout.split("\n")
        .filter((l) => /^[AMD] /.test(l));
      assert.deepEqual(list, [
        "A again/fresh | +1 -0",
        "D again/old/",
        "D again/old/o | +0 -1",
        "D del.txt | +0 -1",
        "D gone/",
        "D gone/sub/",
        "D gone/sub/g | +0 -1",
        "A link -> mod.txt",
        "M mod.txt | +1 -0",
        "A new.txt | +1 -0",
        "A newdir/",
        "A newdir/deep/",
        "A newdir/deep/f | +1 -0",
        "D ren.txt | +0 -1",
        "A renamed.txt | +1 -0",
        "M tool.sh (mode 755)",
      ]);
      const full = sb.cm(["diff", id]).stdout;
      assert.ok(full.includes("--- a/mod.txt\n+++ b/mod.txt\n@@ -1 +1,2 @@\n one\n+changed\n"), full);
      const json = JSON.parse(sb.cm(["diff", "--json"]).stdout) as { id: string; changes: { path: string; kind: string }[] };
      assert.equal(json.id, id);
      assert.deepEqual(
        json.changes.filter((c) => c.kind === "deleted").map((c) => c.path),
        ["again/old", "again/old/o", "del.txt", "gone", "gone/sub", "gone/sub/g", "ren.txt"],
      );
      const ps = JSON.parse(sb.cm(["ps", "-a", "--json"]).stdout) as { id: string; status: string; review: boolean; command: string[] }[];
      const row = ps.find((e) => e.id === id && e.status === "review" && e.review);
      assert.ok(row, JSON.stringify(ps));
      assert.equal(row.command[0], "sh");
      assert.match(sb.cm(["ps", "-a"]).stdout, new RegExp(`^${id}\\s.*\\breview\\b.*sh -c`, "m"));
      assert.equal(sb.cm(["gc"]).status, 0);

      const applied = sb.cm(["apply"]);
      assert.equal(applied.status, 0, applied.stderr);
      assert.deepEqual(snapshot(sb.project), {
        again: "dir:755",
        "again/fresh": "file:644:fresh\n",
        "keep.txt": "file:644:keep\n",
        link: "link:mod.txt",
        "mod.txt": "file:644:one\nchanged\n",
        "new.txt": "file:644:new\n",
        newdir: "dir:755",
        "newdir/deep": "dir:755",
        "newdir/deep/f": "file:644:d\n",
        "renamed.txt": "file:644:ren\n",
        "tool.sh": "file:755:#!/bin/sh\n",
      });
      const none = sb.cm(["diff"]);
      assert.equal(none.status, 125);
      assert.ok(isOneLineError(none.stderr), none.stderr);
    });

    test("a host file changed since the run started is a conflict; --force takes the run's; discard leaves the project", () => {
      seed();
      const r = runReviewed("echo run > /project/mod.txt; echo run > /project/keep.txt");
      assert.equal(r.status, 0, r.stderr);
      writeFileSync(join(sb.project, "keep.txt"), "host\n");
      const refused = sb.cm(["apply"]);
      assert.equal(refused.status, 125);
      assert.ok(isOneLineError(refused.stderr), refused.stderr);
      assert.match(refused.stderr, /keep\.txt/);
      assert.doesNotMatch(refused.stderr, /mod\.txt/);
      assert.equal(readFileSync(join(sb.project, "mod.txt"), "utf8"), "one\n", "a refused apply wrote something");
      assert.equal(sb.cm(["apply", "--force"]).status, 0);
      assert.equal(readFileSync(join(sb.project, "keep.txt"), "utf8"), "run\n");
      assert.equal(readFileSync(join(sb.project, "mod.txt"), "utf8"), "run\n");

      seed();
      const before = snapshot(sb.project);
      assert.equal(sb.cm(["run", "--review", "--", "sh", "-c", SCRIPT]).status, 0);
      const d = sb.cm(["discard"]);
      assert.equal(d.status, 0, d.stderr);
      assert.deepEqual(snapshot(sb.project), before);
      assert.equal(existsSync(reviewsDir()), false, "nothing left of the review, not even an empty .reviews");
    });

    test("a run that changes nothing leaves no review; bad combinations are one line", () => {
      const r = sb.cm(["run", "--review", "--", "cat", "/project/keep.txt"]);
      assert.equal(r.status, 0);
      assert.match(r.stderr, /changed nothing/);
      const bad = sb.cm(["run", "--review", "-v", ".:/project:ro", "--", "true"]);
      assert.equal(bad.status, 125);
      assert.ok(isOneLineError(bad.stderr), bad.stderr);
    });

    test("cm delete says which pending reviews it keeps; they still apply or discard", () => {
      const r = runReviewed("echo x > /project/after-delete");
      assert.equal(r.status, 0, r.stderr);
      const id = (JSON.parse(sb.cm(["ps", "-a", "--json"]).stdout) as { id: string; status: string }[]).find(
        (e) => e.status === "review",
      )?.id;
      assert.ok(id);
      const d = sb.cm(["delete"]);
      assert.equal(d.status, 0, d.stderr);
      assert.match(d.stderr, new RegExp(`^cm: kept 1 pending review of reviewproj: ${id} \\(cm diff / cm apply / cm discard ID\\)$`, "m"));
      const x = sb.cm(["discard", id]);
      assert.equal(x.status, 0, x.stderr);
      assert.equal(existsSync(reviewsDir()), false);
    });

    test("a review is kept on disk with the bundles: it outlives the state directory (a reboot, a logout)", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`, "-q"]).status, 0);
      // a directory of the project replaced whole: needs overlayfs's xattrs on the upper's file
      // system (user.* rootless; a tmpfs before Linux 6.6 has none, and rm -r failed with EIO)
      sb.exec("sh", ["-c", `mkdir -p ${sb.project}/d && echo old > ${sb.project}/d/f`]);
      const r = runReviewed("rm -r /project/d && mkdir /project/d && echo new > /project/d/g");
      assert.equal(r.status, 0, r.stderr);
      const id = reviewId(r.stderr);
      assert.ok(id, r.stderr);
      assert.ok(existsSync(join(reviewsDir(), id, "upper", "d", "g")), "the layer is in <CM_HOME>/.reviews");
      // what a reboot does to a tmpfs state directory
      sb.exec("rm", ["-rf", sb.env.CM_STATE_DIR as string]);
      assert.match(sb.cm(["diff", "--stat", id]).stdout, /^D d\/f \|.*\nA d\/g \|/m);
      const a = sb.cm(["apply", id]);
      assert.equal(a.status, 0, a.stderr);
      assert.deepEqual(readdirSync(join(sb.project, "d")), ["g"]);
      assert.equal(existsSync(reviewsDir()), false);
    });

    test("a directory removed and made again (rm -rf, then mkdir -p of its subdirectory): apply gives exactly the run's tree", () => {
      sb.exec("sh", ["-c", `cd ${sb.project} && rm -rf nm && mkdir -p nm/a/b && echo x > nm/a/x && echo y > nm/a/y && echo z > nm/a/b/z`]);
      const r = runReviewed("rm -rf /project/nm && mkdir -p /project/nm/a && echo new > /project/nm/a/x");
      assert.equal(r.status, 0, r.stderr);
      const id = reviewId(r.stderr);
      const list = sb.cm(["diff", id]).stdout.split("\n\n")[0];
      assert.equal(list, "D nm/a/b/\nD nm/a/b/z\nM nm/a/x\nD nm/a/y");
      const a = sb.cm(["apply", id]);
      assert.equal(a.status, 0, a.stderr);
      assert.deepEqual(snapshot(join(sb.project, "nm")), { a: "dir:755", "a/x": "file:644:new\n" });
    });

    test("apply and discard wait for the run, also from another state directory; a removal cut short is finished by gc", async () => {
      const { done } = await spawnUntilReady(sb, [
        "run",
        "--review",
        "--",
        "sh",
        "-c",
        "echo 1 > /project/one; echo ready; while [ ! -e /project/go ]; do sleep 0.1; done; echo 2 > /project/two",
      ]);
      const [id] = readdirSync(reviewsDir()).filter((n) => !n.startsWith("."));
      // another state directory (a shell without XDG_RUNTIME_DIR) does not see the run, but the review names it
      for (const cmd of ["apply", "discard"]) {
        const r = sb.cm([cmd, id as string], { env: { CM_STATE_DIR: join(sb.dir, "other-state") } });
        assert.equal(r.status, 125, r.stderr);
        assert.match(r.stderr, /its run is still going/);
      }
      assert.equal(sb.cm(["exec", id as string, "--", "touch", "/project/go"]).status, 0);
      const ended = await done;
      assert.equal(ended.status, 0, ended.stderr);
      assert.equal(sb.cm(["discard", id as string]).status, 0);
      // what a cm killed while discarding leaves: the layer renamed aside, partly removed
      sb.exec("mkdir", ["-p", join(reviewsDir(), ".0123456789ab.removing-999999", "upper", "x")]);
      assert.equal(JSON.parse(sb.cm(["ps", "-a", "--json"]).stdout).length, 0, "not a pending review");
      const g = sb.cm(["gc"]);
      assert.equal(g.stdout, "removed interrupted removal of review 0123456789ab\n");
      assert.equal(existsSync(join(reviewsDir(), ".0123456789ab.removing-999999")), false);
      // a review whose review.json is gone (cut short, or removed by hand): named by gc, removed by discard
      sb.exec("mkdir", ["-p", join(reviewsDir(), "0123456789cd", "upper")]);
      assert.match(
        sb.cm(["gc"]).stderr,
        /^cm: kept damaged review 0123456789cd \(its review\.json cannot be read; remove it with cm discard 0123456789cd\)$/m,
      );
      const d = sb.cm(["discard", "0123456789cd"]);
      assert.equal(d.status, 0, d.stderr);
      assert.equal(d.stdout, "cm: discarded damaged review 0123456789cd\n");
      assert.equal(existsSync(join(reviewsDir(), "0123456789cd")), false);
    });

    test("a directory the run leaves closed (chmod 000): the run's own status stands; rootless, diff and apply say why in one line", () => {
      const r = runReviewed("mkdir /project/closed && echo s > /project/closed/s && chmod 000 /project/closed; exit 3");
      assert.equal(r.status, 3, r.stderr);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      const id = /review ([0-9a-f]{12})/.exec(r.stderr)?.[1] ?? reviewId(r.stderr);
      assert.ok(id, r.stderr);
      const d = sb.cm(["diff", id]);
      if (as === "root") {
        assert.equal(d.status, 0, d.stderr);
        assert.match(d.stdout, /^A closed\/\nA closed\/s$/m);
      } else {
        assert.match(r.stderr, /^cm: review [0-9a-f]{12}: the run left \/project\/closed unreadable/m);
        assert.equal(d.status, 125);
        assert.ok(isOneLineError(d.stderr), d.stderr);
        assert.match(d.stderr, /the run left \/project\/closed unreadable .*cm discard/);
      }
      assert.equal(sb.cm(["discard", id]).status, 0);
    });

    test("a run that makes cm apply's own stage directory is refused, not applied with swapped content", () => {
      const r = runReviewed(
        'id=$(grep -o "reviews/[0-9a-f]*/upper" /proc/self/mountinfo | head -1 | cut -d/ -f2); mkdir -p /project/.cm-apply-$id; echo EVIL > /project/.cm-apply-$id/1; echo good > /project/zzz',
      );
      assert.equal(r.status, 0, r.stderr);
      const id = reviewId(r.stderr);
      const a = sb.cm(["apply", id]);
      assert.equal(a.status, 125, a.stderr);
      assert.ok(isOneLineError(a.stderr), a.stderr);
      assert.match(a.stderr, /the run made \/project\/\.cm-apply-[0-9a-f]{12}, the name cm apply stages its work under; nothing applied/);
      assert.equal(existsSync(join(sb.project, "zzz")), false);
      // what a killed apply leaves in the project goes with cm discard
      sb.exec("mkdir", ["-p", join(sb.project, `.cm-apply-${id}`)]);
      assert.equal(sb.cm(["discard", id]).status, 0);
      assert.equal(existsSync(join(sb.project, `.cm-apply-${id}`)), false);
    });

    test("one apply or discard of a review at a time; --review with a writable -v of the project is refused", () => {
      const r = runReviewed("echo l > /project/locked.txt");
      const id = reviewId(r.stderr);
      assert.ok(id, r.stderr);
      // another cm, alive, holds the review's lock (this test's own process stands in for it)
      const lock = join(reviewsDir(), `.${id}.lock`);
      sb.exec("ln", ["-s", `${process.pid}:${startTime(process.pid)}`, lock]);
      for (const cmd of ["apply", "discard"]) {
        const x = sb.cm([cmd, id]);
        assert.equal(x.status, 125, x.stderr);
        assert.ok(isOneLineError(x.stderr), x.stderr);
        assert.match(x.stderr, new RegExp(`cannot ${cmd} review ${id}: another cm \\(pid ${process.pid}\\) is applying or discarding it`));
      }
      sb.exec("rm", [lock]);
      assert.equal(sb.cm(["discard", id]).status, 0);
      for (const v of [".:/data", `${sb.project}/..:/up`]) {
        const bad = sb.cm(["run", "--review", "-v", v, "--", "true"]);
        assert.equal(bad.status, 125, bad.stderr);
        assert.ok(isOneLineError(bad.stderr), bad.stderr);
        assert.match(bad.stderr, /--review and a writable -v of the project .* its writes would skip the review/);
      }
      const ro = sb.cm(["run", "--review", "-v", ".:/data:ro", "--", "cat", "/data/locked.txt"]);
      assert.equal(ro.status, 1, "the discarded file is not there");
    });

    test("read-only directories: one the run made is closed after its files are in; a read-only one on the host stops the apply before any write (rootless)", () => {
      sb.exec("sh", ["-c", `cd ${sb.project} && rm -rf hostro && mkdir hostro && echo keep > first.txt && chmod 555 hostro`]);
      const r = runReviewed("cd /project && rm first.txt && mkdir made && echo a > made/a && chmod 555 made && echo x > hostro/x");
      const id = reviewId(r.stderr);
      assert.ok(id, r.stderr);
      if (as !== "root") {
        const refused = sb.cm(["apply", id]);
        assert.equal(refused.status, 125, refused.stderr);
        assert.ok(isOneLineError(refused.stderr), refused.stderr);
        assert.match(refused.stderr, /cannot write in \S+\/hostro \(permission denied\), where the run changed hostro\/x; nothing applied/);
        assert.ok(existsSync(join(sb.project, "first.txt")), "nothing applied");
        sb.exec("chmod", ["755", join(sb.project, "hostro")]);
      }
      // rootless the host directory changed since the run (its mode): --force takes the run's version
      const a = sb.cm(["apply", ...(as === "root" ? [] : ["--force"]), id]);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(readFileSync(join(sb.project, "made", "a"), "utf8"), "a\n");
      assert.equal(lstatSync(join(sb.project, "made")).mode & 0o777, 0o555);
      assert.equal(readFileSync(join(sb.project, "hostro", "x"), "utf8"), "x\n");
      assert.equal(existsSync(join(sb.project, "first.txt")), false);
      sb.exec("chmod", ["-R", "u+w", join(sb.project, "made"), join(sb.project, "hostro")]);
    });

    test("an apply interrupted after it made directories runs again without --force; setuid survives (root); bad IDs and a moved project are one line", () => {
      const r = runReviewed("cd /project && mkdir d1 d2 && echo x > d1/a && echo y > d2/b && chmod 555 d2 && echo s > su && chmod 4755 su");
      const id = reviewId(r.stderr);
      assert.ok(id, r.stderr);
      // what an apply killed midway leaves: its directories in their working mode (the run's, with
      // the owner's rwx), one file already in place
      sb.exec("sh", ["-c", `cd ${sb.project} && mkdir d1 d2 && chmod 755 d1 d2 && echo x > d1/a`]);
      for (const bad of ["", "xyz"]) {
        const x = sb.cm(["apply", bad]);
        assert.equal(x.status, 125, x.stderr);
        assert.ok(isOneLineError(x.stderr), x.stderr);
        assert.match(x.stderr, /is not a review ID/);
      }
      sb.exec("mv", [sb.project, `${sb.project}-moved`], { cwd: sb.dir });
      const gone = sb.cm(["apply", id], { cwd: sb.dir });
      sb.exec("mv", [`${sb.project}-moved`, sb.project], { cwd: sb.dir });
      assert.equal(gone.status, 125, gone.stderr);
      assert.match(gone.stderr, /the project directory \S+ is gone \(moved or deleted\); nothing applied/);
      const a = sb.cm(["apply", id]);
      assert.equal(a.status, 0, a.stderr);
      // what is in place already is no change any more (changes are read against the project as it is now)
      assert.match(a.stdout, /: 3 written, 0 deleted\n$/);
      assert.equal(lstatSync(join(sb.project, "d2")).mode & 0o777, 0o555);
      assert.equal(readFileSync(join(sb.project, "d2", "b"), "utf8"), "y\n");
      assert.equal(lstatSync(join(sb.project, "su")).mode & 0o7777, 0o4755, "chown before chmod: the setuid bit stays");
      sb.exec("chmod", ["-R", "u+w", join(sb.project, "d2")]);
    });

    test("--review=false on the command line overrides review = true in cm.toml", () => {
      writeFileSync(join(sb.project, "cm.toml"), "[run]\nreview = true\n");
      sb.exec("chown", [`${sb.uid}:${sb.gid}`, join(sb.project, "cm.toml")]);
      assert.equal(sb.cm(["trust"]).status, 0);
      const held = sb.cm(["run", "--", "sh", "-c", "echo held > /project/from-toml"]);
      assert.match(held.stderr, /held back/);
      const r = sb.cm(["run", "--review=false", "--", "sh", "-c", "echo direct > /project/direct"]);
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /held back/);
      assert.equal(readFileSync(join(sb.project, "direct"), "utf8"), "direct\n");
      const id = reviewId(held.stderr);
      assert.equal(sb.cm(["discard", id]).status, 0);
      sb.exec("rm", ["-f", join(sb.project, "cm.toml"), join(sb.project, "direct")]);
    });

    test("a review an older cm left in the state directory is still listed, shown and applied", () => {
      const r = runReviewed("echo legacy > /project/legacy.txt");
      assert.equal(r.status, 0, r.stderr);
      const id = reviewId(r.stderr);
      assert.ok(id, r.stderr);
      const legacy = join(sb.env.CM_STATE_DIR as string, "reviews");
      sb.exec("mkdir", ["-p", legacy]);
      sb.exec("mv", [join(reviewsDir(), id), legacy]);
      const ps = JSON.parse(sb.cm(["ps", "-a", "--json"]).stdout) as { id: string; status: string }[];
      assert.ok(
        ps.some((e) => e.id === id && e.status === "review"),
        JSON.stringify(ps),
      );
      assert.match(sb.cm(["diff", "--stat", id]).stdout, /^A legacy\.txt/m);
      const a = sb.cm(["apply", id]);
      assert.equal(a.status, 0, a.stderr);
      assert.equal(readFileSync(join(sb.project, "legacy.txt"), "utf8"), "legacy\n");
      assert.equal(existsSync(legacy), false, "the emptied reviews directory of the older cm goes too");
    });
  });
}
