import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { baseKey, checkMirror, chooseBootstrapper } from "../../../src/rootfs/debian.ts";
import { engineError } from "../../../src/rootfs/engine.ts";
import { parseSource } from "../../../src/rootfs/source.ts";

describe("chooseBootstrapper", () => {
  const both = { mmdebstrap: true, debootstrap: true };
  test("mmdebstrap when present, as root and rootless", () => {
    assert.equal(chooseBootstrapper(both, false), "mmdebstrap");
    assert.equal(chooseBootstrapper(both, true), "mmdebstrap");
  });
  test("debootstrap as the fallback when mmdebstrap is missing (root)", () => {
    assert.equal(chooseBootstrapper({ mmdebstrap: false, debootstrap: true }, false), "debootstrap");
  });
  test("rootless without mmdebstrap: a clear error (debootstrap needs root)", () => {
    assert.throws(() => chooseBootstrapper({ mmdebstrap: false, debootstrap: true }, true), /debootstrap needs root/);
  });
  test("neither tool: a clear error", () => {
    assert.throws(() => chooseBootstrapper({ mmdebstrap: false, debootstrap: false }, false), /neither mmdebstrap nor debootstrap/);
  });
  test("CM_BOOTSTRAP forces a tool; a bad value or a missing forced tool is an error", () => {
    assert.equal(chooseBootstrapper(both, false, "debootstrap"), "debootstrap");
    assert.equal(chooseBootstrapper(both, false, ""), "mmdebstrap");
    assert.throws(() => chooseBootstrapper(both, false, "yum"), CmError);
    assert.throws(() => chooseBootstrapper({ mmdebstrap: true, debootstrap: false }, false, "debootstrap"), /debootstrap not found/);
  });
});

describe("baseKey", () => {
  test("per suite, architecture and (sorted, deduplicated) package set", () => {
    assert.equal(baseKey("bookworm", "amd64", []), "debian-bookworm-amd64-minbase");
    assert.equal(baseKey("bookworm", "amd64", ["b", "a"]), baseKey("bookworm", "amd64", ["a", "b", "a"]));
    assert.notEqual(baseKey("bookworm", "amd64", ["a"]), baseKey("bookworm", "amd64", []));
    assert.notEqual(baseKey("trixie", "amd64", []), baseKey("bookworm", "amd64", []));
  });

  test("Recommends and mirrors are part of the key", () => {
    const slim = { recommends: false, mirrors: [] };
    const full = { recommends: true, mirrors: [] };
    assert.notEqual(baseKey("bookworm", "amd64", ["curl"], slim), baseKey("bookworm", "amd64", ["curl"], full));
    // Recommends are the default
    assert.equal(baseKey("bookworm", "amd64", ["curl"]), baseKey("bookworm", "amd64", ["curl"], full));
    // without packages the choice changes nothing: the plain minbase key
    assert.equal(baseKey("bookworm", "amd64", [], slim), "debian-bookworm-amd64-minbase");
    assert.equal(baseKey("bookworm", "amd64", [], full), "debian-bookworm-amd64-minbase");
    const mirrored = { recommends: true, mirrors: ["http://m.example/debian"] };
    assert.notEqual(baseKey("bookworm", "amd64", [], mirrored), "debian-bookworm-amd64-minbase");
    assert.notEqual(baseKey("bookworm", "amd64", ["curl"], mirrored), baseKey("bookworm", "amd64", ["curl"], full));
  });
});

describe("checkMirror", () => {
  test("a URI or one sources.list line", () => {
    for (const m of [
      "http://deb.debian.org/debian",
      "file:///srv/repo",
      "deb [trusted=yes] file:///srv/repo ./",
      "deb-src http://x/ y main",
    ]) {
      assert.equal(checkMirror(m), m);
    }
  });
  test("paths, '-', options, several lines are refused (mmdebstrap would read a file or stdin)", () => {
    for (const m of ["/etc/apt/sources.list", "-", "--include=x", "deb http://x/ y main\ndeb http://z/ y main", "", "http://x y"]) {
      assert.throws(() => checkMirror(m), CmError, JSON.stringify(m));
    }
  });
});

describe("engineError", () => {
  test("takes podman's Error line after its warnings", () => {
    assert.equal(engineError('time="x" level=warning msg="not a shared mount"\nError: nope: image not known\n'), "nope: image not known");
    assert.equal(engineError("Error response from daemon: No such image: x\n"), "No such image: x");
    assert.equal(engineError("something odd\n"), "something odd");
  });
});

describe("parseSource", () => {
  test("every scheme, with its canonical description", async () => {
    assert.equal((await parseSource("debian", { packages: [] })).description, "debian:bookworm");
    assert.equal((await parseSource("debian:trixie", { packages: ["git", "curl"] })).description, "debian:trixie +curl,git");
    assert.match((await parseSource("tar:/x.tar.gz", { packages: [] })).description, /^tar:\/x\.tar\.gz$/);
    assert.equal((await parseSource("podman:localhost/img:1", { packages: [] })).description, "podman:localhost/img:1");
    assert.equal((await parseSource("docker:debian@sha256:abc", { packages: [] })).description, "docker:debian@sha256:abc");
    assert.equal((await parseSource("bundle:other/dev", { packages: [] })).description, "bundle:other/dev");
  });
  test("bad input is a CmError", async () => {
    for (const bad of ["ftp:x", "tar:", "podman:", "podman:-rm", "podman:a b", "bundle:../x", "bundle:a/b/c", "debian:Bad_Suite"]) {
      await assert.rejects(parseSource(bad, { packages: [] }), CmError, bad);
    }
    await assert.rejects(parseSource("tar:/x.tar", { packages: ["hello"] }), /--packages works only with debian/);
    await assert.rejects(parseSource("debian", { packages: ["-evil"] }), /invalid Debian package/);
  });
});
