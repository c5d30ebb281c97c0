/** What every action needs to know about who runs cm and where its files are. */
import { homedir } from "node:os";
import { type Layout, layout } from "../core/layout.ts";

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
  return { uid, gid, home, rootless: uid !== 0, layout: layout(process.env, uid, home), cwd: process.cwd() };
}
