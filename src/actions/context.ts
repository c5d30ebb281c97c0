/** What every action needs to know about who runs cm and where its files are. */
import { homedir } from "node:os";
import { type Layout, layout } from "../core/layout.ts";
import { checkStateDir } from "../store/runs.ts";

export interface Context {
  uid: number;
  gid: number;
  home: string;
  rootless: boolean;
  layout: Layout;
  cwd: string;
}

export function hostContext(): Context {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const home = homedir();
  const paths = layout(process.env, uid, home);
  checkStateDir(paths.state, uid);
  let cwd = "";
  try {
    cwd = process.cwd();
  } catch {
    // the current directory was removed: commands that need it say so (actions/project.ts)
  }
  return { uid, gid, home, rootless: uid !== 0, layout: paths, cwd };
}
