/**
 * The one plain-text table of cm's listings (`cm list`, `cm ps`, `cm cache list`): a header row
 * and rows, columns two spaces apart, each padded to its widest cell except the last (no trailing
 * blanks). Pure.
 */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join("  ")).join("\n");
}
