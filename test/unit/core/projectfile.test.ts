import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "smol-toml";
import {
  checkProjectFile,
  defaultsFor,
  keyError,
  keyLines,
  keyName,
  lineOf,
  mergeCreate,
  mergeRun,
  originOf,
  type ProjectFile,
  resolveCreate,
  syntaxError,
} from "../../../src/core/projectfile.ts";
import { CmError } from "../../../src/errors.ts";

const FILE = "/p/cm.toml";

function load(text: string): ProjectFile {
  return checkProjectFile(parse(text), FILE, text, "/p");
}

/** The CmError that loading `text` throws (fails the test if it loads). */
function error(text: string): CmError {
  try {
    load(text);
  } catch (err) {
    assert.ok(err instanceof CmError, String(err));
    assert.equal(err.message.includes("\n"), false, "one line");
    return err;
  }
  assert.fail(`expected an error for:\n${text}`);
}

const FULL = `# a full example
[create]
from = "debian:bookworm"
packages = ["git", "python3"]
post_create = ["apt-get install -y --no-install-recommends curl", "echo done"]

[run]
memory = "1g"
env = { EDITOR = "vi", HTTP_PROXY = true }
env_file = ".env"
volumes = ["./data:/data", "/srv/cache:/cache:ro"]
network = "none"
runtime = "runsc"
command = ["bash", "-l"]
entrypoint = "/usr/bin/env"
cpus = 1.5
pids_limit = 512
read_only = true
workdir = "/project/src"

[bundle.test.create]
packages = ["make"]

[bundle.test.run]
memory = 268435456
env = { EDITOR = "nano", CI = "1" }
volumes = ["/tmp/other:/data"]
`;

describe("checkProjectFile", () => {
  test("a full file: every key, typed, paths resolved against the project directory", () => {
    const f = load(FULL);
    assert.deepEqual(f.create, {
      from: "debian:bookworm",
      packages: ["git", "python3"],
      postCreate: ["apt-get install -y --no-install-recommends curl", "echo done"],
    });
    assert.deepEqual(f.run, {
      memoryBytes: 1024 ** 3,
      env: [
        { name: "EDITOR", value: "vi" },
        { name: "HTTP_PROXY", value: undefined },
      ],
      envFile: "/p/.env",
      volumes: [
        { source: "/p/data", destination: "/data", readOnly: false },
        { source: "/srv/cache", destination: "/cache", readOnly: true },
      ],
      network: "none",
      runtime: "runsc",
      command: ["bash", "-l"],
      entrypoint: "/usr/bin/env",
      cpus: 1.5,
      pidsLimit: 512,
      readOnly: true,
      workdir: "/project/src",
    });
    assert.deepEqual(Object.keys(f.bundles), ["test"]);
    assert.deepEqual(f.bundles.test?.create, { packages: ["make"] });
    assert.equal(f.bundles.test?.run.memoryBytes, 268435456);
  });

  test("an empty file and empty sections give no defaults", () => {
    assert.deepEqual(load(""), { path: FILE, text: "", create: {}, run: {}, bundles: {} });
    const text = "[create]\n[run]\n[bundle.x]\n";
    assert.deepEqual(load(text), { path: FILE, text, create: {}, run: {}, bundles: { x: { create: {}, run: {} } } });
  });

  test("tar: and dir: sources are made absolute against the project directory", () => {
    assert.equal(load('[create]\nfrom = "tar:rootfs.tar"').create.from, "tar:/p/rootfs.tar");
    assert.equal(load('[create]\nfrom = "dir:../tree/"').create.from, "dir:/tree");
    assert.equal(load('[create]\nfrom = "dir:/abs/x"').create.from, "dir:/abs/x");
    assert.equal(load('[create]\nfrom = "debian"').create.from, "debian");
  });

  test("the other ways to write the same TOML are read the same", () => {
    const dotted = load('run.memory = "64m"\nrun.env.A = "1"\nbundle.dev.run.network = "none"\n');
    assert.equal(dotted.run.memoryBytes, 64 * 1024 ** 2);
    assert.deepEqual(dotted.run.env, [{ name: "A", value: "1" }]);
    assert.equal(dotted.bundles.dev?.run.network, "none");
    const tables = load('[run.env]\nA = "1"\n[bundle.dev]\nrun = { network = "none" }\n');
    assert.deepEqual(tables.run.env, [{ name: "A", value: "1" }]);
    assert.equal(tables.bundles.dev?.run.network, "none");
  });

  test("volumes: destinations normalised, modes ro and rw", () => {
    const f = load('[run]\nvolumes = ["a:/x/", "/b:/y//z:rw", "/c:/w:ro", ".:/project:ro"]');
    assert.deepEqual(f.run.volumes, [
      { source: "/p/a", destination: "/x", readOnly: false },
      { source: "/b", destination: "/y/z", readOnly: false },
      { source: "/c", destination: "/w", readOnly: true },
      { source: "/p", destination: "/project", readOnly: true },
    ]);
  });

  const bad: [string, string, RegExp][] = [
    ["unknown top-level key", 'colour = "red"', /^\/p\/cm\.toml:1: colour: unknown key$/],
    ["unknown key in [run]", '[run]\nmemory = "1g"\nmemroy = "2g"\n', /^\/p\/cm\.toml:3: run\.memroy: unknown key$/],
    ["unknown key in [create]", "\n\n[create]\nfrom_ = 1\n", /^\/p\/cm\.toml:4: create\.from_: unknown key$/],
    ["unknown key in a bundle section", '[bundle.dev]\nrun = {}\nmemory = "1g"\n', /:3: bundle\.dev\.memory: unknown key$/],
    ["unknown key in a bundle's run", "[bundle.dev.run]\n\n\ntty = true\n", /:4: bundle\.dev\.run\.tty: unknown key$/],
    ["run is not a table", 'run = "x"\n', /:1: run: must be a table, not a string$/],
    ["memory of the wrong type", "[run]\nmemory = true\n", /:2: run\.memory: must be a size string .* not a boolean$/],
    ["bad memory value", '[run]\nmemory = "banana"\n', /:2: run\.memory: invalid memory "banana"$/],
    ["zero memory", "[run]\nmemory = 0\n", /:2: run\.memory: invalid memory "0"/],
    ["too little memory", '[run]\nmemory = "1m"\n', /:2: run\.memory: "1m" is too small: a container needs at least 6MiB$/],
    ["packages not an array", '[create]\npackages = "git"\n', /:2: create\.packages: must be an array of strings, not a string$/],
    [
      "a bad package name, on its own line",
      '[create]\npackages = [\n  "git",\n  "Bad Name",\n]\n',
      /:4: create\.packages\[1\]: invalid Debian package name "Bad Name"$/,
    ],
    [
      "a non-string in post_create",
      '[create]\npost_create = ["ok", 3]\n',
      /:2: create\.post_create\[1\]: must be a string, not an integer$/,
    ],
    ["an empty post_create command", '[create]\npost_create = ["  "]\n', /:2: create\.post_create\[0\]: must not be empty$/],
    ["unknown source", '[create]\nfrom = "docker:x"\n', /:2: create\.from: unknown rootfs source "docker:x"$/],
    ["a bad suite", '[create]\nfrom = "debian:../x"\n', /:2: create\.from: invalid Debian suite/],
    ["tar without a path", '[create]\nfrom = "tar:"\n', /:2: create\.from: "tar:" needs a path/],
    ["env as an array (the table form is the one)", '[run]\nenv = ["A=1"]\n', /:2: run\.env: must be a table, not an array$/],
    ["a bad env name", '[run.env]\nOK = "1"\n"1BAD" = "x"\n', /:3: run\.env\.1BAD: invalid variable name "1BAD"$/],
    ["an env value of the wrong type", "[run]\nenv = { A = 1 }\n", /:2: run\.env\.A: must be a string \(the value\) or true/],
    ["env false", "[run]\nenv = { A = false }\n", /:2: run\.env\.A: must be a string/],
    [
      "a volume without a destination",
      '[run]\nvolumes = ["/a"]\n',
      /:2: run\.volumes\[0\]: invalid volume "\/a": no ':' between SRC and DST$/,
    ],
    [
      "a relative destination",
      '[run]\nvolumes = ["/a:b"]\n',
      /run\.volumes\[0\]: invalid volume "\/a:b": DST "b" is not an absolute path$/,
    ],
    ["below /project", '[run]\nvolumes = ["/a:/project/x"]\n', /DST \/project\/x is inside \/project, the project directory$/],
    ["on /proc", '[run]\nvolumes = ["/a:/proc/x"]\n', /DST \/proc\/x is managed by the runtime$/],
    ["shadowing /", '[run]\nvolumes = ["/a:/"]\n', /DST \/ would hide the container's root filesystem$/],
    ["a bad volume mode", '[run]\nvolumes = ["/a:/b:rx"]\n', /unknown option "rx"$/],
    ["a bad network", '[run]\nnetwork = "bridge"\n', /:2: run\.network: invalid value "bridge"$/],
    ["a bad runtime", '[run]\nruntime = "../runc"\n', /:2: run\.runtime: invalid value "\.\.\/runc": a path must be absolute$/],
    ["command as a string", '[run]\ncommand = "bash"\n', /:2: run\.command: must be an array of strings, not a string$/],
    ["an empty command", "[run]\ncommand = []\n", /:2: run\.command: must name a program$/],
    ["entrypoint as an array", '[run]\nentrypoint = ["sh", "-c"]\n', /:2: run\.entrypoint: must be a string, not an array$/],
    ["an unknown userns", '[create]\nuserns = "keep-id"\n', /:2: create\.userns: "keep-id" is not a user namespace mode/],
    ["cpus as a string", '[run]\ncpus = "2"\n', /:2: run\.cpus: must be a number/],
    ["zero cpus", "[run]\ncpus = 0\n", /:2: run\.cpus: must be more than 0, not 0$/],
    ["negative cpus", "[run]\ncpus = -1.5\n", /:2: run\.cpus: must be more than 0, not -1\.5$/],
    ["fractional pids_limit", "[run]\npids_limit = 1.5\n", /:2: run\.pids_limit: must be an integer, not a float$/],
    ["zero pids_limit", "[run]\npids_limit = 0\n", /:2: run\.pids_limit: invalid value "0"$/],
    ["read_only as a string", '[run]\nread_only = "yes"\n', /:2: run\.read_only: must be true or false, not a string$/],
    ["a relative workdir", '[run]\nworkdir = "src"\n', /:2: run\.workdir: invalid value "src": not an absolute path$/],
    ["a bad bundle name", '[bundle."../x".run]\nmemory = "1g"\n', /:1: bundle\."\.\.\/x": invalid bundle name "\.\.\/x"$/],
    ["bundle not a table", 'bundle = "x"\n', /:1: bundle: must be a table/],
    ["a date value", "[run]\nmemory = 2024-01-01\n", /:2: run\.memory: must be a size string .* not a date$/],
    [
      "a bad allow_hosts pattern",
      '[run]\nallow_hosts = ["ok.example", "*.com"]\n',
      /:2: run\.allow_hosts\[1\]: value "\*\.com": a wildcard needs/,
    ],
    ["allow_hosts as a string", '[run]\nallow_hosts = "a.example"\n', /:2: run\.allow_hosts: must be an array of strings, not a string$/],
    [
      "a bad port in [create] allow_hosts",
      '[create]\nallow_hosts = ["a.example:0"]\n',
      /:2: create\.allow_hosts\[0\]: value "a\.example:0": bad port/,
    ],
    ["review as a string", '[run]\nreview = "yes"\n', /:2: run\.review: must be true or false, not a string$/],
    ["ephemeral as a number", "[run]\nephemeral = 1\n", /:2: run\.ephemeral: must be true or false, not an integer$/],
    ["a NUL in a string", '[run]\nworkdir = "/a\\u0000b"\n', /:2: run\.workdir: must not contain a NUL character$/],
  ];
  for (const [what, text, pattern] of bad) {
    test(`refused with file, line and key: ${what}`, () => {
      const err = error(text);
      assert.equal(err.code, "bad-project-file");
      assert.equal(err.exitCode, 125);
      assert.match(err.message, pattern);
      assert.ok(err.message.startsWith(`${FILE}:`), err.message);
      assert.ok(err.hint, "has a hint");
    });
  }

  test("an unknown key's hint lists the known keys", () => {
    assert.match(error("[run]\nmemroy = 1\n").hint ?? "", /known keys here: memory, env, env_file, volumes, network/);
  });
});

describe("keyLines", () => {
  test("headers, keys, dotted and quoted keys, inline tables, arrays over lines", () => {
    const text = `# comment [not.a.header]
top = 1

[a]
b = "x # not a comment"   # comment
"q.k" = 2
d.e.f = 3
inline = { x = 1, y = { z = 2 } }
arr = [
  "one",  # first
  [1, 2],
  { k = "v" },
]

[[list]]
item = 1

[ c . 'd' ]
g = """
[not.a.header]
h = not a key
"""
after = '''
literal [x]
'''
last = true
`;
    const lines = keyLines(text);
    const at = (k: string) => lines.get(k);
    assert.equal(at("top"), 2);
    assert.equal(at("a"), 4);
    assert.equal(at("a.b"), 5);
    assert.equal(at("a.q.k"), 6);
    assert.equal(at("a.d.e.f"), 7);
    assert.equal(at("a.d"), 7);
    assert.equal(at("a.inline"), 8);
    assert.equal(at("a.inline.y.z"), 8);
    assert.equal(at("a.arr"), 9);
    assert.equal(at("a.arr.[0]"), 10);
    assert.equal(at("a.arr.[1]"), 11);
    assert.equal(at("a.arr.[2]"), 12);
    assert.equal(at("a.arr.[2].k"), 12);
    assert.equal(at("list"), 15);
    assert.equal(at("list.item"), 16);
    assert.equal(at("c.d"), 18);
    assert.equal(at("c.d.g"), 19);
    assert.equal(at("c.d.after"), 23);
    assert.equal(at("c.d.last"), 26);
    assert.equal(at("not.a.header"), undefined);
    assert.equal(at("c.d.h"), undefined);
    assert.equal(at("c.d.x"), undefined);
  });

  test("escaped quotes inside strings do not end them; CRLF line ends count once", () => {
    const lines = keyLines('a = "say \\"[x]\\" = 1"\r\nb = 2\r\n\r\nc = 3\r\n');
    assert.deepEqual(
      [...lines.entries()],
      [
        ["a", 1],
        ["b", 2],
        ["c", 4],
      ],
    );
  });

  test("multi-line inline tables (TOML 1.1) and trailing content do not confuse it", () => {
    const lines = keyLines("t = {\n  a = 1,\n  b = [\n    2,\n  ],\n}\nnext = 1\n");
    assert.equal(lines.get("t.a"), 2);
    assert.equal(lines.get("t.b.[0]"), 4);
    assert.equal(lines.get("next"), 7);
  });

  test("lineOf falls back to the closest enclosing key", () => {
    const lines = keyLines('[run]\nenv = { A = "1" }\n');
    assert.equal(lineOf(lines, ["run", "env", "A"]), 2);
    assert.equal(lineOf(lines, ["run", "env", "B"]), 2);
    assert.equal(lineOf(lines, ["run", "memory"]), 1);
    assert.equal(lineOf(lines, ["other"]), undefined);
  });

  test("keyName quotes what is not a bare key and shows indexes", () => {
    assert.equal(keyName(["run", "volumes", "[2]"]), "run.volumes[2]");
    assert.equal(keyName(["bundle", "a.b", "run"]), 'bundle."a.b".run');
  });
});

describe("errors found after loading", () => {
  test("keyError names the line of the key; originOf finds the section that gave the value", () => {
    const f = load('[run]\nmemory = "1g"\n\n[bundle.dev.run]\ncpus = 1\nmemory = "2g"\n');
    assert.deepEqual(originOf(f, "dev", "run", "memory"), ["bundle", "dev", "run", "memory"]);
    assert.deepEqual(originOf(f, "other", "run", "memory"), ["run", "memory"]);
    assert.equal(keyError(f, originOf(f, "dev", "run", "memory"), "no").message, "/p/cm.toml:6: bundle.dev.run.memory: no");
    assert.equal(keyError(f, originOf(f, "x", "run", "memory"), "no").message, "/p/cm.toml:2: run.memory: no");
    assert.deepEqual(originOf(f, "dev", "run", "pids_limit"), ["run", "pids_limit"]);
  });
});

describe("syntax errors", () => {
  test("smol-toml's error becomes one line with file and line", () => {
    let err: CmError | undefined;
    try {
      parse("[run]\nmemory = \n");
    } catch (e) {
      const t = e as Error & { line: number };
      err = syntaxError(FILE, t.message, t.line);
    }
    assert.ok(err);
    assert.equal(err.message, "/p/cm.toml:2: invalid TOML: invalid value");
  });
});

describe("precedence", () => {
  const f = load(FULL);

  test("a bundle section overrides the top-level sections key by key", () => {
    const d = defaultsFor(f, "test");
    assert.equal(d.create.from, "debian:bookworm");
    assert.deepEqual(d.create.packages, ["make"]);
    assert.equal(d.run.memoryBytes, 268435456);
    assert.equal(d.run.network, "none");
    assert.deepEqual(d.run.command, ["bash", "-l"]);
  });

  test("env merges per variable, volumes per destination", () => {
    const d = defaultsFor(f, "test");
    assert.deepEqual(d.run.env, [
      { name: "EDITOR", value: "nano" },
      { name: "HTTP_PROXY", value: undefined },
      { name: "CI", value: "1" },
    ]);
    assert.deepEqual(d.run.volumes, [
      { source: "/tmp/other", destination: "/data", readOnly: false },
      { source: "/srv/cache", destination: "/cache", readOnly: true },
    ]);
  });

  test("other bundles get the top-level defaults; no file gives none", () => {
    assert.deepEqual(defaultsFor(f, "other"), { create: f.create, run: f.run });
    assert.deepEqual(defaultsFor(undefined, "x"), { create: {}, run: {} });
  });

  test("flags win: a flag replaces the file's value, absent flags leave it", () => {
    const d = defaultsFor(f, "default");
    assert.deepEqual(mergeCreate(d.create, { from: "dir:/x", packages: undefined }), { ...d.create, from: "dir:/x" });
    const r = mergeRun(d.run, {
      memoryBytes: 1,
      command: undefined,
      env: [{ name: "EDITOR", value: "emacs" }],
      volumes: [{ source: "/q", destination: "/cache", readOnly: false }],
    });
    assert.equal(r.memoryBytes, 1);
    assert.deepEqual(r.command, ["bash", "-l"]);
    assert.deepEqual(r.env, [
      { name: "EDITOR", value: "emacs" },
      { name: "HTTP_PROXY", value: undefined },
    ]);
    assert.deepEqual(r.volumes, [
      { source: "/p/data", destination: "/data", readOnly: false },
      { source: "/q", destination: "/cache", readOnly: false },
    ]);
  });
});

describe("the sandbox keys", () => {
  test("[run] allow_hosts, review, ephemeral and [create] allow_hosts, per bundle too", () => {
    const f = load(
      '[create]\nallow_hosts = ["deb.debian.org"]\n[run]\nallow_hosts = ["github.com", "*.githubusercontent.com:443"]\nreview = true\nephemeral = false\n[bundle.dev.run]\nephemeral = true\nallow_hosts = []\n',
    );
    assert.deepEqual(f.create.allowHosts, ["deb.debian.org"]);
    assert.deepEqual(f.run, { allowHosts: ["github.com", "*.githubusercontent.com:443"], review: true, ephemeral: false });
    assert.deepEqual(defaultsFor(f, "dev").run, { allowHosts: [], review: true, ephemeral: true });
    assert.deepEqual(resolveCreate(defaultsFor(f, "dev").create, {}).allowHosts, ["deb.debian.org"]);
    assert.deepEqual(originOf(f, "dev", "run", "allow_hosts"), ["bundle", "dev", "run", "allow_hosts"]);
    assert.deepEqual(originOf(f, "other", "run", "allow_hosts"), ["run", "allow_hosts"]);
  });
});

describe("resolveCreate", () => {
  test("defaults: debian:bookworm, no packages, no post_create", () => {
    assert.deepEqual(resolveCreate({}, {}), {
      from: "debian:bookworm",
      packages: [],
      postCreate: [],
      recommends: true,
      httpProxy: true,
      hostCa: false,
      allowHosts: [],
    });
  });

  test("the file's values apply when no flag is given; flags win", () => {
    const file = { from: "debian:trixie", packages: ["git"], postCreate: ["true"] };
    assert.deepEqual(resolveCreate(file, {}), {
      from: "debian:trixie",
      packages: ["git"],
      postCreate: ["true"],
      recommends: true,
      httpProxy: true,
      hostCa: false,
      allowHosts: [],
    });
    assert.deepEqual(resolveCreate(file, { from: "debian:bookworm", packages: ["vim"] }), {
      from: "debian:bookworm",
      packages: ["vim"],
      postCreate: ["true"],
      recommends: true,
      httpProxy: true,
      hostCa: false,
      allowHosts: [],
    });
    assert.deepEqual(resolveCreate(file, { from: "debian:bookworm" }).packages, ["git"]);
    assert.equal(resolveCreate({ ...file, userns: "single" }, {}).userns, "single");
  });

  test("--from a non-Debian source leaves the file's packages out", () => {
    assert.deepEqual(resolveCreate({ packages: ["git"] }, { from: "dir:/x" }), {
      from: "dir:/x",
      packages: [],
      postCreate: [],
      recommends: true,
      httpProxy: true,
      hostCa: false,
      allowHosts: [],
    });
  });

  test("install_recommends, http_proxy, host_ca: the file's value unless a flag is given", () => {
    const file = { installRecommends: false, httpProxy: false, hostCa: true };
    const plan = resolveCreate(file, {});
    assert.deepEqual([plan.recommends, plan.httpProxy, plan.hostCa], [false, false, true]);
    const flagged = resolveCreate(file, { installRecommends: true, httpProxy: true, hostCa: false });
    assert.deepEqual([flagged.recommends, flagged.httpProxy, flagged.hostCa], [true, true, false]);
  });

  test("a file that pairs packages with a non-Debian source is refused, naming the file", () => {
    assert.throws(
      () => resolveCreate({ from: "tar:/x.tar", packages: ["git"] }, {}, "/p/cm.toml"),
      (err: CmError) => /^\/p\/cm\.toml: packages work only with debian sources, not "tar:\/x\.tar"$/.test(err.message),
    );
  });
});

describe("[run] init, ulimits, shm_size", () => {
  test("typed values; ulimits merge per name, a bundle's wins", () => {
    const f = load(
      '[run]\ninit = false\nulimits = { nofile = "1024:4096", core = 0, stack = "unlimited" }\nshm_size = "1g"\n[bundle.b.run]\nulimits = { nofile = 99 }\n',
    );
    assert.equal(f.run.init, false);
    assert.equal(f.run.shmBytes, 1024 ** 3);
    assert.deepEqual(f.run.ulimits?.nofile, { soft: 1024, hard: 4096 });
    assert.deepEqual(f.run.ulimits?.stack, { soft: Number.POSITIVE_INFINITY, hard: Number.POSITIVE_INFINITY });
    const b = defaultsFor(f, "b").run;
    assert.deepEqual(b.ulimits?.nofile, { soft: 99, hard: 99 });
    assert.deepEqual(b.ulimits?.core, { soft: 0, hard: 0 });
  });
  test("bad values name the file, line and key", () => {
    assert.match(error('[run]\ninit = "yes"\n').message, /cm\.toml:2: run\.init: must be true or false/);
    assert.match(error('[run]\nulimits = { nofile = "abc" }\n').message, /cm\.toml:2: run\.ulimits\.nofile: invalid ulimit/);
    assert.match(error("[run]\nulimits = { files = 10 }\n").message, /run\.ulimits\.files: .*unknown limit "files"/);
    assert.match(error("[run]\nulimits = { nofile = 1.5 }\n").message, /run\.ulimits\.nofile: must be/);
    assert.match(error('[run]\nshm_size = "-1"\n').message, /cm\.toml:2: run\.shm_size: invalid/);
  });
});

describe("http_proxy, host_ca, install_recommends", () => {
  test("booleans in [run], [create] and per bundle", () => {
    const f = load(
      "[create]\ninstall_recommends = false\nhttp_proxy = false\nhost_ca = true\n[run]\nhttp_proxy = false\nhost_ca = true\n[bundle.dev.run]\nhost_ca = false\n",
    );
    assert.deepEqual(f.create, { installRecommends: false, httpProxy: false, hostCa: true });
    assert.deepEqual(f.run, { httpProxy: false, hostCa: true });
    assert.equal(defaultsFor(f, "dev").run.hostCa, false);
    assert.equal(defaultsFor(f, "other").run.hostCa, true);
  });

  test("a non-boolean is refused with file:line: key", () => {
    assert.match(error('[run]\nhost_ca = "yes"\n').message, /cm\.toml:2: run\.host_ca: must be true or false, not a string/);
    assert.match(error("[create]\ninstall_recommends = 1\n").message, /cm\.toml:2: create\.install_recommends: must be true or false/);
  });
});
