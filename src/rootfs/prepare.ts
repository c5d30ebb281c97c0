/**
 * Making a fresh rootfs work under cm. With a single-id user namespace (rootless, --userns single),
 * only container root exists: APT's sandbox user `_apt` cannot be switched to, so APT is told to
 * stay root. In range mode `_apt` exists and nothing is written.
 * Every write goes through writeFileInRoot and never follows a symlink out of the rootfs.
 */
import { existsSync } from "node:fs";
import { resolveInRoot, writeFileInRoot } from "../host/fs.ts";

export const APT_SANDBOX_FILE = "/etc/apt/apt.conf.d/99cm-sandbox";

export function prepareRootfs(rootfs: string, opts: { rootless: boolean; range?: boolean }): void {
  if (opts.rootless && !opts.range && existsSync(resolveInRoot(rootfs, "/etc/apt/apt.conf.d"))) {
    writeFileInRoot(
      rootfs,
      APT_SANDBOX_FILE,
      '// Written by cm: a rootless container maps only root, so APT cannot drop to its _apt user.\nAPT::Sandbox::User "root";\n',
    );
  }
}
