import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "smol-toml";
import { withProjectDefaults } from "../../../src/actions/rundefaults.ts";
import { checkProjectFile } from "../../../src/core/projectfile.ts";

const TEXT = `[run]
command = ["make"]
entrypoint = "/usr/bin/env"
env = { A = "1", FROM_HOST = true, CM_TEST_SURELY_UNSET = true }
env_file = "vars.env"
volumes = ["data:/data", "/cache:/cache:ro"]
network = "none"
runtime = "runsc"
memory = "64m"
cpus = 0.5
pids_limit = 10
read_only = true
workdir = "/project/src"

[bundle.dev.run]
network = "host"
`;
const file = checkProjectFile(parse(TEXT), "/p/cm.toml", TEXT, "/p");

describe("withProjectDefaults", () => {
  test("no flags: every [run] key becomes the matching run option", () => {
    process.env.FROM_HOST = "h";
    const o = withProjectDefaults({ bundle: "default", command: [] }, file);
    assert.deepEqual(o.command, ["make"]);
    assert.equal(o.entrypoint, "/usr/bin/env");
    assert.equal(o.network, "none");
    assert.equal(o.runtime, "runsc");
    assert.equal(o.memoryBytes, 64 * 1024 * 1024);
    assert.equal(o.cpus, 0.5);
    assert.equal(o.pidsLimit, 10);
    assert.equal(o.readOnly, true);
    assert.equal(o.workdir, "/project/src");
    assert.deepEqual(o.volumes, ["/p/data:/data", "/cache:/cache:ro"]);
    assert.deepEqual(o.fileEnv?.envFiles, ["/p/vars.env"]);
    assert.deepEqual(o.fileEnv?.env, ["A=1", "FROM_HOST"], "NAME = true is left out when the host lacks it");
    assert.match(o.fileEnv?.where?.env ?? "", /^\/p\/cm\.toml: run\.env$/);
    assert.equal(o.env, undefined, "the flags' env is untouched");
  });

  test("flags win; a -v on the same destination replaces the file's; the bundle section applies", () => {
    const o = withProjectDefaults(
      {
        bundle: "dev",
        command: ["sh"],
        network: "none",
        memoryBytes: 1,
        volumes: ["/other:/data:ro", "/x:/x"],
        env: ["A=2"],
      },
      file,
    );
    assert.deepEqual(o.command, ["sh"]);
    assert.equal(o.network, "none");
    assert.equal(o.memoryBytes, 1);
    assert.deepEqual(o.volumes, ["/cache:/cache:ro", "/other:/data:ro", "/x:/x"]);
    assert.deepEqual(o.env, ["A=2"]);
    assert.equal(withProjectDefaults({ bundle: "dev", command: [] }, file).network, "host");
    // --entrypoint wins over the file's, also when it clears it ('')
    assert.equal(withProjectDefaults({ bundle: "dev", command: [], entrypoint: "sh" }, file).entrypoint, "sh");
    assert.equal(withProjectDefaults({ bundle: "dev", command: [], entrypoint: "" }, file).entrypoint, "");
  });

  test("allow_hosts, review and ephemeral: the file's apply without flags; --allow-host replaces the whole list", () => {
    const text = '[run]\nallow_hosts = ["github.com"]\nreview = true\nephemeral = true\n';
    const f = checkProjectFile(parse(text), "/p/cm.toml", text, "/p");
    const o = withProjectDefaults({ bundle: "default", command: [] }, f);
    assert.deepEqual(o.allowHosts, ["github.com"]);
    assert.equal(o.allowHostsWhere, "/p/cm.toml: run.allow_hosts");
    assert.equal(o.review, true);
    assert.equal(o.ephemeral, true);
    const flagged = withProjectDefaults({ bundle: "default", command: [], allowHosts: ["pypi.org"] }, f);
    assert.deepEqual(flagged.allowHosts, ["pypi.org"]);
    assert.equal(flagged.allowHostsWhere, undefined);
    assert.equal(withProjectDefaults({ bundle: "default", command: [] }, file).allowHosts, undefined);
  });

  test("no file: the options as given", () => {
    const opts = { bundle: "default", command: [] };
    assert.equal(withProjectDefaults(opts, undefined), opts);
  });
});
