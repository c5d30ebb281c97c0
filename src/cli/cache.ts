import { pruneBases } from "../actions/cache.ts";
import { hostContext } from "../actions/context.ts";
import { formatTable } from "../actions/list.ts";
import { formatBytes } from "../core/size.ts";
import { CmError } from "../errors.ts";
import { listBases } from "../store/cache.ts";
import { parse, tooMany } from "./args.ts";

export const usage = `Usage: cm cache list [--json]
       cm cache prune [KEY...]

The base cache: one bootstrapped Debian root filesystem per suite, architecture and package set,
in \${CM_CACHE_DIR:-\${XDG_CACHE_HOME:-~/.cache}/cm}/bases/. Every bundle made from a cached base
is a local copy; bundles never depend on the cache afterwards.

  list                 show the cached bases: key, size, creation time, source
  prune [KEY...]       remove the cached bases (all, or those named) and anything an interrupted
                       cm left behind; says what was removed. A base being filled is skipped.

Options:
  --json               (list) print a JSON array of {key, source, tool, created, sizeBytes, dir}
  -h, --help           show this help
`;

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const ctx = hostContext();
  if (sub === "list") {
    const p = parse("cache list", rest, { json: { type: "boolean" } });
    if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("cache list", [...p.positionals, ...p.rest]);
    const bases = listBases(ctx.layout.cache);
    if (p.values.json) {
      process.stdout.write(`${JSON.stringify(bases, null, 2)}\n`);
    } else {
      const rows = [["KEY", "SIZE", "CREATED", "SOURCE"]];
      for (const b of bases) rows.push([b.key, formatBytes(b.sizeBytes), b.created.slice(0, 19).replace("T", " "), b.source]);
      process.stdout.write(`${formatTable(rows)}\n`);
    }
    return 0;
  }
  if (sub === "prune") {
    const p = parse("cache prune", rest, {});
    if (p.rest.length > 0) throw tooMany("cache prune", p.rest);
    const known = new Set(listBases(ctx.layout.cache).map((b) => b.key));
    const unknown = p.positionals.filter((k) => !known.has(k));
    if (unknown.length) {
      throw new CmError("no-base", `no cached base ${JSON.stringify(unknown[0])}`, {
        hint: known.size ? `cached: ${[...known].join(", ")}` : "the cache is empty",
      });
    }
    const r = pruneBases(ctx.layout.cache, p.positionals);
    for (const b of r.removed) process.stdout.write(`removed ${b.key} (${formatBytes(b.sizeBytes)})\n`);
    for (const b of r.busy) process.stderr.write(`cm: kept ${b.key}: another cm (pid ${b.pid}) is using it\n`);
    if (r.leftovers) process.stdout.write(`removed ${r.leftovers} leftover${r.leftovers === 1 ? "" : "s"} of interrupted cache fills\n`);
    if (!r.removed.length && !r.leftovers && !r.busy.length) process.stdout.write("the cache is empty: nothing removed\n");
    const freed = r.removed.reduce((n, b) => n + b.sizeBytes, 0);
    if (r.removed.length) process.stdout.write(`freed ${formatBytes(freed)}\n`);
    return 0;
  }
  throw new CmError("usage", sub === undefined ? "cache: missing subcommand" : `cache: unknown subcommand ${JSON.stringify(sub)}`, {
    hint: "use cm cache list or cm cache prune",
  });
}
