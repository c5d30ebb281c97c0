/** Path arithmetic on strings (no filesystem access). Pure. */

/**
 * True when absolute path `path` is `dir` or below it, compared component-wise as strings (both
 * normalised: no "..", no "//", no trailing "/" but on "/"): /a/bc is not below /a/b.
 */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith("/") ? dir : `${dir}/`);
}
