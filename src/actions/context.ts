/** What every action needs to know about who runs cm and where its files are. */
import { lstatSync, realpathSync, type Stats } from "node:fs";
import { homedir } from "node:os";
import { checkLayoutEnv, type Layout, layout } from "../core/layout.ts";
import { displayName } from "../core/names.ts";
import { CmError, isErrno } from "../errors.ts";
import { utf8 } from "../host/decoding.ts";
import { checkStateDir } from "../store/runs.ts";

export interface Context {
  uid: number;
  gid: number;
  home: string;
  rootless: boolean;
  layout: Layout;
  cwd: string;
}

/**
 * `report`: cm doctor, which reports unusable directories as checks instead of refusing them here.
 */
export function hostContext(opts: { report?: boolean } = {}): Context {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const home = homedir();
  checkLayoutEnv(process.env, home);
  const paths = layout(process.env, uid, home);
  checkStateDir(paths.state, uid);
  if (!opts.report) {
    checkOwnDir(paths.data, uid, gid, "data directory", "CM_HOME");
    checkOwnDir(paths.cache, uid, gid, "cache directory", "CM_CACHE_DIR");
  }
  let cwd = "";
  try {
    cwd = process.cwd();
  } catch {
    // the current directory was removed: commands that need it say so (actions/project.ts)
  }
  const ctx: Context = { uid, gid, home, rootless: uid !== 0, layout: paths, cwd };
  if (cwd.includes("\uFFFD") && !namesItself(cwd)) {
    // Node decodes the path's bytes as UTF-8, each invalid byte becoming U+FFFD: the string
    // names another directory (in a shared /tmp, maybe another user's). Whatever needs the
    // current directory (the project, relative paths) is refused; the rest of cm works.
    const error = new CmError("bad-project", `the current directory's path is not valid UTF-8 (${displayName(cwd)}): cm cannot name it`, {
      hint: "rename the directory (mv) to a name in UTF-8",
    });
    Object.defineProperty(ctx, "cwd", {
      get() {
        throw error;
      },
    });
  }
  return ctx;
}

/** Whether the current directory's path, as Node decoded it, is the current directory (not another one). */
function namesItself(cwd: string): boolean {
  try {
    // realpath(3); the JS one starts from process.cwd()
    return utf8(realpathSync.native(".", { encoding: "buffer" })) === cwd;
  } catch {
    return false;
  }
}

/**
 * cm's data and cache directories are trusted (bundles with their config.json, cached bases) only
 * when they are really the user's: a directory, not a symlink, owned by `uid`, not writable by
 * others (group-writable only for the user's own group). One that does not exist yet is fine: cm
 * makes it. Source of the rule: the same as for the state directory (store/runs.ts).
 */
export function checkOwnDir(dir: string, uid: number, gid: number, what: string, envName: string): void {
  let st: Stats;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if (isErrno(err, "ENOENT")) return;
    if (isErrno(err, "ENOTDIR")) {
      throw new CmError("bad-dir", `${what} ${dir}: a part of its path is a file, not a directory`, {
        hint: `set ${envName} to a directory of yours`,
      });
    }
    if (isErrno(err, "EACCES")) {
      throw new CmError("bad-dir", `${what} ${dir}: permission denied`, { hint: `set ${envName} to a directory of yours` });
    }
    throw err;
  }
  const why = st.isSymbolicLink()
    ? "is a symbolic link"
    : !st.isDirectory()
      ? "is not a directory"
      : st.uid !== uid
        ? `belongs to uid ${st.uid}, not to you`
        : (st.mode & 0o002) !== 0 || ((st.mode & 0o020) !== 0 && st.gid !== gid)
          ? "is writable by other users"
          : undefined;
  if (why === "is not a directory") {
    throw new CmError("bad-dir", `${what} ${dir} is not a directory`, { hint: `set ${envName} to a directory of yours` });
  }
  if (why) {
    throw new CmError("unsafe-dir", `${what} ${dir} ${why}: cm does not trust what is in it`, {
      hint: `remove it (or fix its owner and mode), or set ${envName} to a directory only you can write`,
    });
  }
}
