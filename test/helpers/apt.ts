/** Local flat apt repositories for tests (dpkg-deb builds the packages; this indexes them). */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Writes `dir/Packages` (dpkg-scanpackages of the .deb files in `dir`) and makes `top` (default
 * `dir`) readable by everyone, so the unprivileged test user's cm can read the repository too.
 */
export function indexAptRepository(dir: string, top: string = dir): void {
  const index = execFileSync("dpkg-scanpackages", ["--multiversion", "."], {
    cwd: dir,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  writeFileSync(join(dir, "Packages"), index);
  execFileSync("chmod", ["-R", "a+rX", top]);
}
