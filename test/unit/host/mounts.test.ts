import assert from "node:assert/strict";
import { test } from "node:test";
import { mountsUnder, parseMountPoints } from "../../../src/host/mounts.ts";

const MOUNTINFO = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:25 / /proc rw,nosuid - proc proc rw
41 22 8:1 /tmp/src /home/u/.local/share/cm/p/.default.deleting-42/rootfs/mnt rw,relatime shared:1 - ext4 /dev/sda1 rw
42 22 8:1 /x /home/u/.local/share/cm/my\\040proj/b/rootfs/with\\040space rw - ext4 /dev/sda1 rw
43 22 8:1 /y /home/u/.local/share/cm/p/.default.deleting-420 rw - ext4 /dev/sda1 rw
`;

test("mount points are parsed with mountinfo's escapes undone", () => {
  const points = parseMountPoints(MOUNTINFO);
  assert.ok(points.includes("/home/u/.local/share/cm/my proj/b/rootfs/with space"));
  assert.equal(points.length, 5);
});

test("mounts under a directory: below it or on it, never a sibling sharing a prefix", () => {
  const points = parseMountPoints(MOUNTINFO);
  assert.deepEqual(mountsUnder("/home/u/.local/share/cm/p/.default.deleting-42", points), [
    "/home/u/.local/share/cm/p/.default.deleting-42/rootfs/mnt",
  ]);
  assert.deepEqual(mountsUnder("/home/u/.local/share/cm/my proj/b", points), ["/home/u/.local/share/cm/my proj/b/rootfs/with space"]);
  assert.deepEqual(mountsUnder("/home/u/.local/share/cm/p/.default.deleting-420", points), [
    "/home/u/.local/share/cm/p/.default.deleting-420",
  ]);
  assert.deepEqual(mountsUnder("/srv", points), []);
});
