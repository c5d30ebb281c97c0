/**
 * Writes the man page man/cm.1 (roff, man(7) macros) from the command table (src/commands.ts):
 * NAME, SYNOPSIS, DESCRIPTION, then one subsection per command with its summary and its --help
 * text (generated from the command's spec, core/command.ts formatHelp), so the page says what
 * `cm COMMAND --help` says. Run by `npm run build`; the page is installed with the package
 * (package.json "man").
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { COMMANDS } from "../src/commands.ts";
import { formatHelp } from "../src/core/command.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string; description: string };

/** Text made safe for roff: backslashes doubled, a leading '.' or '\'' escaped. */
export function roff(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const l = line.replace(/\\/g, "\\e");
      return /^[.']/.test(l) ? `\\&${l}` : l;
    })
    .join("\n");
}

function section(name: string, summary: string, usage: string): string {
  return [
    `.SS "cm ${name}"`,
    roff(summary.charAt(0).toUpperCase() + summary.slice(1)),
    ".PP",
    ".nf",
    roff(usage.trimEnd()),
    ".fi",
    "",
  ].join("\n");
}

const shown = Object.entries(COMMANDS).filter(([, c]) => !c.hidden);
const parts: string[] = [
  `.TH CM 1 "" "cm ${pkg.version}" "User Commands"`,
  ".SH NAME",
  `cm \\- ${roff(pkg.description)}`,
  ".SH SYNOPSIS",
  ".B cm",
  ".I COMMAND",
  "[\\fIARGS\\fR...]",
  ".br",
  ".B cm",
  "\\-\\-version | \\-\\-help",
  ".SH DESCRIPTION",
  "cm runs per-project containers on runc: a plain Debian root filesystem, the current directory",
  "mounted at /project, rootless by default. Each command below is shown with its",
  ".B \\-\\-help",
  "text.",
  ".SH COMMANDS",
];
for (const [name, c] of shown) {
  const mod = await c.load();
  parts.push(section(name, c.summary, formatHelp(mod.command)));
}
parts.push(
  ".SH EXIT STATUS",
  "The command's own status for cm run and cm exec (128+N when it died of signal N, 127 when it was not found, 126 when it is not executable); 125 for cm's own errors.",
  ".SH FILES",
  ".TP",
  `.I $\{XDG_DATA_HOME:-~/.local/share}/cm`,
  "bundles (CM_HOME)",
  ".TP",
  `.I $\{XDG_CACHE_HOME:-~/.cache}/cm`,
  "cached bases and image blobs (CM_CACHE_DIR)",
  ".SH SEE ALSO",
  "runc(8), podman(1), skopeo(1)",
  "",
);
mkdirSync(join(root, "man"), { recursive: true });
writeFileSync(join(root, "man", "cm.1"), parts.join("\n"));
console.log(`man: man/cm.1 (${shown.length} commands)`);
