/** Memory sizes the way docker reads them: a number with an optional binary suffix (b, k, m, g, t). */
import { CmError } from "../errors.ts";

const UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const SIZE = /^(\d+(?:\.\d+)?)(?:([kmgt])(?:i?b)?|b)?$/i;

/** "512m" -> 536870912, "1.5G" -> 1610612736, "268435456" -> 268435456, "64k" -> 65536. */
export function parseSize(text: string, what = "size"): number {
  const m = SIZE.exec(text);
  if (!m) {
    throw new CmError("bad-size", `invalid ${what} ${JSON.stringify(text)}`, {
      hint: "give a positive number with an optional unit: 268435456, 64k, 512m, 1.5g",
    });
  }
  const num = Number(m[1]);
  const bytes = Math.floor(num * (UNITS[(m[2] ?? "").toLowerCase()] ?? 1));
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new CmError("bad-size", `invalid ${what} ${JSON.stringify(text)}: must be more than 0 bytes`, {
      hint: "give a positive number with an optional unit: 64k, 512m, 1.5g",
    });
  }
  return bytes;
}

/** 536870912 -> "512MiB": for messages and listings. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1).replace(/\.0$/, "")}${units[i]}`;
}
