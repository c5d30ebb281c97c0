/** What cm checked of the project directory before a container mounts it (core/runtime-spec/verify.ts). */
import { existsSync } from "node:fs";
import type { MountCheck } from "../core/runtime-spec/index.ts";
import { PERL } from "../core/runtime-spec/verify.ts";
import { CmError } from "../errors.ts";
import { type Checked, openChecked } from "../host/confine.ts";

/**
 * The project directory as it is now: it must still be the recorded real path (not replaced by a
 * symlink since create); its device and inode go to the mount check (core/runtime-spec/verify.ts).
 */
export function projectCheck(projectPath: string): MountCheck {
  // the check runs as the runtime's createContainer hook: without perl no container could start
  if (!existsSync(PERL)) {
    throw new CmError("tool-missing", `${PERL} is missing: cm checks every container's mounts with it`, {
      hint: "install perl-base (apt-get install perl-base)",
    });
  }
  let checked: Checked | undefined;
  try {
    checked = openChecked(projectPath);
  } catch {
    // reported below
  }
  if (checked?.real !== projectPath) {
    throw new CmError(
      "project-moved",
      `the project directory ${projectPath} is gone or is now a symbolic link${checked ? ` to ${checked.real}` : ""}`,
      { hint: "put the project directory back where it was created, or create the bundle again from its new place" },
    );
  }
  return { destination: "/project", dev: checked.dev, ino: checked.ino };
}
