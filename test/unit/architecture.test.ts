/**
 * The layers of ARCHITECTURE.md, enforced: every relative `import` (static, `export ... from`, or
 * dynamic `import()`) in src/ must be allowed by the "may import" column of its module's row in
 * the module table. A new dependency between layers is either wrong or a change to that table.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { test } from "node:test";

const root = join(import.meta.dirname, "..", "..");
const src = join(root, "src");

/** "main.ts", "cli", "errors.ts": a module's row in the table. */
function layerOf(path: string): string {
  return path.split("/")[0] as string;
}

interface Rule {
  /** folders ("core") and files ("host/pid.ts") that may be imported */
  allow: string[];
  /** the same, for `import type` only */
  types: string[];
}

/** The module table of ARCHITECTURE.md: row name -> what it may import. */
function rules(): Map<string, Rule> {
  const text = readFileSync(join(root, "ARCHITECTURE.md"), "utf8");
  const table = text.slice(text.indexOf("## Modules (src/)"));
  const rows = table
    .split("\n")
    .slice(3)
    .filter((l) => l.startsWith("| `"))
    .map((l) => l.split(" | ").map((c) => c.replace(/^\| |\s*\|$/g, "")));
  const names = rows.map((r) => /^`([^`]+?)\/?`/.exec(r[0] ?? "")?.[1] ?? "");
  const out = new Map<string, Rule>();
  rows.forEach((r, i) => {
    const column = r[2] ?? "";
    const [plain = "", typed = ""] = column.split("types from");
    const tokens = (t: string) => [...t.matchAll(/`([^`]+)`/g)].map((m) => (m[1] === "errors" ? "errors.ts" : (m[1] as string)));
    const allow = tokens(plain);
    if (/everything below/.test(column)) allow.push(...names.slice(i + 1));
    out.set(names[i] as string, { allow, types: tokens(typed) });
  });
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The relative imports of a file: the module imported (relative to src/) and whether only types are. */
function imports(file: string): { target: string; typeOnly: boolean }[] {
  const text = readFileSync(file, "utf8");
  const out: { target: string; typeOnly: boolean }[] = [];
  const pattern = /^(?:import|export)\s+(type\s+)?[^;]*?\sfrom\s+"(\.[^"]+)"|\bimport\(\s*"(\.[^"]+)"\s*\)|^import\s+"(\.[^"]+)"/gm;
  for (const m of text.matchAll(pattern)) {
    const spec = (m[2] ?? m[3] ?? m[4]) as string;
    out.push({ target: relative(src, normalize(join(dirname(file), spec))), typeOnly: m[1] !== undefined });
  }
  return out;
}

function allowed(list: string[], target: string): boolean {
  return list.some((a) => a === target || a === layerOf(target));
}

test("ARCHITECTURE.md's module table has a row for every folder and top-level file of src/", () => {
  const table = rules();
  for (const e of readdirSync(src)) assert.ok(table.has(e), `no row for src/${e}`);
});

test("every import in src/ is allowed by the may-import column of its module", () => {
  const table = rules();
  const violations: string[] = [];
  for (const file of sources(src)) {
    const from = relative(src, file);
    const rule = table.get(layerOf(from)) as Rule;
    for (const { target, typeOnly } of imports(file)) {
      const to = layerOf(target);
      if (to === layerOf(from) || target === "errors.ts") continue;
      if (allowed(rule.allow, target) || (typeOnly && allowed(rule.types, target))) continue;
      violations.push(`${from} imports ${typeOnly ? "types from " : ""}${target}`);
    }
  }
  assert.deepEqual(violations, []);
});

test("the parser sees the imports it must (static, export-from, type-only, dynamic)", () => {
  const found = imports(join(src, "main.ts")).map((i) => i.target);
  assert.ok(found.includes("commands.ts") && found.includes("errors.ts"), found.join(", "));
  const cli = imports(join(src, "commands.ts"));
  assert.ok(cli.some((i) => i.target === "cli/run.ts" && !i.typeOnly));
  assert.ok(cli.some((i) => i.target === "core/command.ts" && i.typeOnly));
  assert.deepEqual(rules().get("core"), { allow: ["errors.ts"], types: ["host"] });
});
