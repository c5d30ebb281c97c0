/**
 * The image config's User ("name", "uid", "uid:gid", "name:group") as numbers, looked up in the
 * image's own /etc/passwd and /etc/group texts. Pure.
 */
import { CmError } from "../errors.ts";

function lookup(text: string, name: string, field: number): number | undefined {
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f[0] === name && f[field] !== undefined && /^\d+$/.test(f[field] as string)) return Number(f[field]);
  }
  return undefined;
}

export function resolveUser(user: string, passwd: string, group: string): { uid: number; gid: number } {
  const [u = "", g] = user.split(":", 2);
  let uid: number | undefined;
  let gid: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    gid = undefined;
    for (const line of passwd.split("\n")) {
      const f = line.split(":");
      if (f[2] === u && f[3] && /^\d+$/.test(f[3])) gid = Number(f[3]);
    }
  } else {
    uid = lookup(passwd, u, 2);
    gid = lookup(passwd, u, 3);
  }
  if (uid === undefined)
    throw new CmError("bad-image-user", `the image's user ${JSON.stringify(user)} is not in its /etc/passwd`, {
      hint: "the image is inconsistent",
    });
  if (g !== undefined) gid = /^\d+$/.test(g) ? Number(g) : lookup(group, g, 2);
  if (gid === undefined) {
    if (g !== undefined)
      throw new CmError("bad-image-user", `the image's group ${JSON.stringify(g)} is not in its /etc/group`, {
        hint: "the image is inconsistent",
      });
    gid = uid === 0 ? 0 : uid;
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw new CmError("bad-image-user", `the image's user ${JSON.stringify(user)} is out of range`);
  return { uid, gid };
}
