import { cacheEntries, pruneCache } from "../actions/cache.ts";
import { hostContext } from "../actions/context.ts";
import { defineCommand } from "../core/command.ts";
import { holder } from "../core/names.ts";
import { formatBytes } from "../core/size.ts";
import { formatTable } from "../core/table.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "cache",
  positionals: [
    { name: "SUBCOMMAND", complete: ["list", "prune"] },
    { name: "KEY", optional: true, variadic: true },
  ],
  synopsis: ["cache list [--json]", "cache prune [KEY...]"],
  description: `cm's cache, in \${CM_CACHE_DIR:-\${XDG_CACHE_HOME:-~/.cache}/cm}/:
  bases/         one bootstrapped Debian root filesystem per suite, architecture and package set
  blobs/sha256/  image layers, configs and manifests pulled from registries (--from image:REF),
                 kept for later pulls of images that share them
Every bundle is a local copy: bundles never depend on the cache afterwards.

  list                 show the cached bases (key, size, creation time, source) and, as the line
                       with key "blobs", the image blob cache (how many blobs, their size)
  prune [KEY...]       remove everything (no KEY), or what the KEYs name: a base's key, "bases"
                       for every base, "blobs" for the image blob cache; and anything an
                       interrupted cm left behind. Says what was removed and the space freed.
                       A base being filled or copied, or a blob being downloaded, is kept.`,
  options: {
    json: {
      type: "boolean",
      help: `(list) print a JSON array of {kind, key, source, tool, created, sizeBytes, dir}: kind "base"
per base; kind "blobs" for the blob cache, with count, partials (partial downloads) and
partialBytes (included in sizeBytes)`,
    },
  },
});

const listCommand = { ...command, name: "cache list" };
const pruneCommand = { ...command, name: "cache prune", options: {} };

export async function main(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const ctx = hostContext();
  if (sub === "list") {
    const p = parseCommand(listCommand, rest);
    if (p.positionals.length > 0 || p.rest.length > 0) throw tooMany("cache list", [...p.positionals, ...p.rest]);
    const entries = cacheEntries(ctx.layout.cache);
    if (p.values.json) {
      process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
    } else {
      const rows = [["KEY", "SIZE", "CREATED", "SOURCE"]];
      for (const e of entries) {
        rows.push([e.key, formatBytes(e.sizeBytes), e.created ? e.created.slice(0, 19).replace("T", " ") : "-", e.source]);
      }
      process.stdout.write(`${formatTable(rows)}\n`);
    }
    return 0;
  }
  if (sub === "prune") {
    const p = parseCommand(pruneCommand, rest);
    if (p.rest.length > 0) throw tooMany("cache prune", p.rest);
    const { plan, bases, blobs } = pruneCache(ctx.layout.cache, p.positionals);
    const out = (line: string) => process.stdout.write(`${line}\n`);
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    let freed = 0;
    let anything = false;
    if (bases) {
      for (const b of bases.removed) out(`removed ${b.key} (${formatBytes(b.sizeBytes)})`);
      for (const b of bases.busy) process.stderr.write(`cm: kept ${b.key}: ${holder(b.pid)} is using it\n`);
      if (bases.leftovers) out(`removed ${plural(bases.leftovers, "leftover")} of interrupted cache fills`);
      freed += bases.removed.reduce((n, b) => n + b.sizeBytes, 0);
      anything ||= bases.removed.length > 0 || bases.leftovers > 0 || bases.busy.length > 0;
    }
    if (blobs) {
      if (blobs.removed) out(`removed ${plural(blobs.removed, "image blob")}`);
      const byPid = new Map<number, number>();
      for (const b of blobs.busy) byPid.set(b.pid, (byPid.get(b.pid) ?? 0) + 1);
      for (const [pid, n] of byPid) {
        process.stderr.write(`cm: kept ${plural(n, "image blob")}: ${holder(pid)} is downloading ${n === 1 ? "it" : "them"}\n`);
      }
      if (blobs.leftovers) out(`removed ${plural(blobs.leftovers, "leftover")} of interrupted downloads`);
      freed += blobs.freedBytes;
      anything ||= blobs.removed > 0 || blobs.leftovers > 0 || blobs.busy.length > 0;
    }
    if (!anything) {
      const what =
        plan.bases === "all" && plan.blobs
          ? "the cache is empty"
          : plan.bases === "none"
            ? "no image blobs cached"
            : plan.bases === "all" && !plan.blobs
              ? "no bases cached"
              : "nothing cached under those keys";
      out(`${what}: nothing removed`);
    }
    if (freed > 0) out(`freed ${formatBytes(freed)}`);
    return 0;
  }
  throw new CmError("usage", sub === undefined ? "cache: missing subcommand" : `cache: unknown subcommand ${JSON.stringify(sub)}`, {
    hint: "use cm cache list or cm cache prune",
  });
}
