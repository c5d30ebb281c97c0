/** What cm checked of the project directory before a container mounts it (core/spec/verify.ts). */
import type { MountCheck } from "../core/spec/index.ts";
import { CmError } from "../errors.ts";
import { type Checked, openChecked } from "../host/confine.ts";

/**
 * The project directory as it is now: it must still be the recorded real path (not replaced by a
 * symlink since create); its device and inode go to the mount check (core/spec/verify.ts).
 */
export function projectCheck(projectPath: string): MountCheck {
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
