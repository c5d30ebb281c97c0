/**
 * Where cm keeps things, as a pure function of the environment, the uid and the home directory.
 *
 *   data   $CM_HOME, else ${XDG_DATA_HOME:-~/.local/share}/cm     bundles: <data>/<project>/<bundle>/
 *   cache  $CM_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/cm     bases/, blobs/sha256/, node-compile-cache/
 *   state  $CM_STATE_DIR, else /run/cm for root,                 runs/<id>/ (per-run config, record, log),
 *          else ${XDG_RUNTIME_DIR}/cm, else /tmp/cm-<uid>        each runtime's --root (runc/, runtime-NAME/)
 * Relative XDG values are ignored, as the XDG base directory spec says.
 */
import { join } from "node:path";

export interface Layout {
  data: string;
  cache: string;
  state: string;
  /** runc's --root (other runtimes: core/run/runtime.ts runtimeRootName) */
  runcRoot: string;
  /** one directory per run: its config.json, run record, pid file, and a detached run's log and exit.json */
  runs: string;
}

type Env = Record<string, string | undefined>;

function abs(value: string | undefined): string | undefined {
  return value?.startsWith("/") ? value : undefined;
}

export function layout(env: Env, uid: number, home: string): Layout {
  const data = abs(env.CM_HOME) ?? join(abs(env.XDG_DATA_HOME) ?? join(home, ".local/share"), "cm");
  const cache = abs(env.CM_CACHE_DIR) ?? join(abs(env.XDG_CACHE_HOME) ?? join(home, ".cache"), "cm");
  const runtimeDir = abs(env.XDG_RUNTIME_DIR);
  const state = abs(env.CM_STATE_DIR) ?? (uid === 0 ? "/run/cm" : runtimeDir ? join(runtimeDir, "cm") : `/tmp/cm-${uid}`);
  return { data, cache, state, runcRoot: join(state, "runc"), runs: join(state, "runs") };
}
