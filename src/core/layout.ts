/**
 * Where cm keeps things, as a pure function of the environment, the uid and the home directory.
 *
 *   data   $CM_HOME, else ${XDG_DATA_HOME:-~/.local/share}/cm     bundles: <data>/<project>/<bundle>/,
 *                                                                 overlay layers: .reviews/<id>/, .ephemeral/<id>/
 *   cache  $CM_CACHE_DIR, else ${XDG_CACHE_HOME:-~/.cache}/cm     bases/, blobs/sha256/, node-compile-cache/
 *   config $CM_CONFIG_DIR, else ${XDG_CONFIG_HOME:-~/.config}/cm   approved project files (store/trust.ts)
 *   state  $CM_STATE_DIR, else /run/cm for root,                 runs/<id>/ (per-run config, record, log),
 *          else ${XDG_RUNTIME_DIR}/cm, else /tmp/cm-<uid>        each runtime's --root (runc/, runtime-NAME/)
 * Relative XDG values are ignored, as the XDG base directory spec says.
 */
import { join } from "node:path";
import { CmError } from "../errors.ts";

export interface Layout {
  data: string;
  cache: string;
  /** the user's own settings: approved project files */
  config: string;
  state: string;
  /**
   * Overlay layers of --review runs (kept until cm apply / cm discard) and of --ephemeral runs
   * (removed when the run ends): on disk with the bundles, not in the state directory, a tmpfs for
   * most users, which is emptied at logout and reboot and, before Linux 6.6, has no user.* xattrs
   * (a rootless overlay's upper needs them: removing a directory failed with EIO).
   */
  reviews: string;
  ephemeral: string;
  /** runc's --root (other runtimes: core/run/runtime.ts runtimeRootName) */
  runcRoot: string;
  /** one directory per run: its config.json, run record, pid file, and a detached run's log and exit.json */
  runs: string;
}

type Env = Record<string, string | undefined>;

function abs(value: string | undefined): string | undefined {
  return value?.startsWith("/") ? value : undefined;
}

/**
 * cm's own variables must be absolute paths when set (an empty or relative one would silently
 * move cm's data elsewhere), and so must the home directory. Throws CmError naming the variable.
 */
export function checkLayoutEnv(env: Env, home: string): void {
  for (const name of ["CM_HOME", "CM_CACHE_DIR", "CM_STATE_DIR", "CM_CONFIG_DIR"]) {
    const v = env[name];
    if (v !== undefined && !v.startsWith("/")) {
      throw new CmError("bad-env", `${name}=${JSON.stringify(v)} is ${v === "" ? "empty" : "not an absolute path"}`, {
        hint: `set ${name} to an absolute path, or unset it`,
      });
    }
  }
  if (!home.startsWith("/")) {
    throw new CmError("bad-env", `your home directory ${JSON.stringify(home)} (HOME) is not an absolute path`, {
      hint: "set HOME to your home directory",
    });
  }
}

export function layout(env: Env, uid: number, home: string): Layout {
  const data = abs(env.CM_HOME) ?? join(abs(env.XDG_DATA_HOME) ?? join(home, ".local/share"), "cm");
  const cache = abs(env.CM_CACHE_DIR) ?? join(abs(env.XDG_CACHE_HOME) ?? join(home, ".cache"), "cm");
  const config = abs(env.CM_CONFIG_DIR) ?? join(abs(env.XDG_CONFIG_HOME) ?? join(home, ".config"), "cm");
  const runtimeDir = abs(env.XDG_RUNTIME_DIR);
  const state = abs(env.CM_STATE_DIR) ?? (uid === 0 ? "/run/cm" : runtimeDir ? join(runtimeDir, "cm") : `/tmp/cm-${uid}`);
  return {
    data,
    cache,
    config,
    state,
    reviews: join(data, ".reviews"),
    ephemeral: join(data, ".ephemeral"),
    runcRoot: join(state, "runc"),
    runs: join(state, "runs"),
  };
}
