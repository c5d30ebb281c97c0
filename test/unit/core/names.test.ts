import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";
import {
  CONTAINER_ID,
  checkBundleName,
  checkProjectName,
  displayName,
  escapeControls,
  hostnameFor,
  projectKey,
  SAFE_NAME,
} from "../../../src/core/names.ts";
import { CmError } from "../../../src/errors.ts";
import { newContainerId } from "../../../src/host/random.ts";

describe("bundle names", () => {
  test("accepts safe names", () => {
    for (const n of ["default", "py3.12", "a", "A_b-c.d", "x".repeat(63)]) assert.equal(checkBundleName(n), n);
  });
  test("refuses unsafe names with a CmError", () => {
    for (const n of ["", ".", "..", "a/b", "-x", ".hidden", "x".repeat(64), "sp ace", "é", "a\0b", "_x"]) {
      assert.throws(() => checkBundleName(n), CmError, JSON.stringify(n));
    }
  });
});

describe("project names", () => {
  test("refuses what cannot be a directory name or looks like a flag", () => {
    for (const n of ["", ".", "..", "a/b", "/", "-rf", "a\0b"]) assert.throws(() => checkProjectName(n), CmError, JSON.stringify(n));
  });

  test("safe names map to themselves", () => {
    for (const n of ["app", "my-app", "My.App_2"]) assert.equal(projectKey(n), n);
  });

  test("other names map to slug + hash: deterministic, safe, distinct", () => {
    const names = ["my project", "café", "日本語", "a:b", ".dotted", "x".repeat(100), "my_project", "my?project", "über app"];
    const keys = names.map(projectKey);
    for (const k of keys) assert.match(k, SAFE_NAME);
    assert.equal(new Set(keys).size, names.length);
    assert.equal(projectKey("my project"), projectKey("my project"));
    assert.match(projectKey("my project"), /^my_project-[0-9a-f]{8}$/);
    assert.match(projectKey("日本語"), /^project-[0-9a-f]{8}$|^_+-[0-9a-f]{8}$/);
    // a directory may start with "-": mapped, never refused
    assert.match(projectKey("-dash"), /^dash-[0-9a-f]{8}$/);
  });
});

describe("hostnames and container IDs", () => {
  test("hostnames are valid RFC 1123 labels", () => {
    assert.equal(hostnameFor("My App"), "my-app");
    assert.equal(hostnameFor("日本語"), "cm");
    assert.equal(hostnameFor("-x-"), "x");
    assert.ok(hostnameFor("a".repeat(100)).length <= 63);
  });
  test("container IDs follow runc's rules and differ", () => {
    const a = newContainerId();
    assert.match(a, CONTAINER_ID);
    assert.notEqual(a, newContainerId());
  });
});

test("projectKey: a safe name is its own key", () => {
  assert.equal(projectKey("my-app"), "my-app");
});

test("projectKey: other names get a slug and 8 hex digits of sha256 (node:crypto loaded on demand)", () => {
  const hash = createHash("sha256").update("my project", "utf8").digest("hex").slice(0, 8);
  assert.equal(projectKey("my project"), `my_project-${hash}`);
  assert.equal(projectKey("my project"), projectKey("my project"));
  assert.notEqual(projectKey("my project"), projectKey("my_project"));
  assert.match(projectKey("café"), /^caf_-[0-9a-f]{8}$/);
  assert.match(projectKey("café"), CONTAINER_ID);
});

test("escapeControls: C0 but the tab, DEL, C1 (CSI U+009B) and bidi controls escaped; the rest as it is", () => {
  assert.equal(escapeControls('runtime = "x" # \u009b2K\u009bG+ # ok'), 'runtime = "x" # \\u009b2K\\u009bG+ # ok');
  assert.equal(escapeControls("a\tb\r\u001b[?7l\u007f"), "a\tb\\u000d\\u001b[?7l\\u007f");
  assert.equal(escapeControls("evil\u202etxt naïve – ok"), "evil\\u202etxt naïve – ok");
  assert.equal(escapeControls("line\nnext"), "line\\u000anext");
});

test("displayName: plain names as they are; control and bidi characters quoted and escaped", () => {
  assert.equal(displayName("README.md"), "README.md");
  assert.equal(displayName("naïve – ok"), "naïve – ok");
  assert.equal(displayName("a\nb"), '"a\\nb"');
  assert.equal(displayName("x\r\u001b[2K\u001b[1A"), '"x\\r\\u001b[2K\\u001b[1A"');
  assert.equal(displayName("del\u007f csi\u009b"), '"del\\u007f csi\\u009b"');
  assert.equal(displayName("evil\u202etxt.sh"), '"evil\\u202etxt.sh"');
});
