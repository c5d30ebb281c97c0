/**
 * Rootless: container root may `chown` /project to a subordinate id (range mode), which gives the
 * host's project directory away from the user, who then cannot write it. After a run, one lstat of
 * the project's top directory (no walk: `cm run -- true` is benchmarked) says so, and how to get it back.
 */
import { lstatSync } from "node:fs";
import type { RunStep } from "./runexec.ts";

/**
 * A RunStep whose afterExit says (through `say`, without "cm: ") when the project directory at
 * `projectPath` (its real path) no longer belongs to host uid `uid`. The result is not changed;
 * a project that cannot be stat'ed (removed meanwhile) is not reported.
 */
export function projectOwnerStep(projectPath: string, uid: number, say: (line: string) => void): RunStep {
  return {
    afterExit(_run, result) {
      let owner: number;
      try {
        owner = lstatSync(projectPath).uid;
      } catch {
        return result;
      }
      if (owner !== uid) {
        say(`/project (${projectPath}) now belongs to uid ${owner} on the host, not to you; cm run -- chown 0:0 /project gives it back`);
      }
      return result;
    },
  };
}
