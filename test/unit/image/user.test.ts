import assert from "node:assert/strict";
import { test } from "node:test";
import { CmError } from "../../../src/errors.ts";
import { resolveUser } from "../../../src/image/user.ts";

const passwd = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
const group = "root:x:0:\nstaff:x:50:\napp:x:1001:\n";

test("the image's User as numbers", () => {
  assert.deepEqual(resolveUser("root", passwd, group), { uid: 0, gid: 0 });
  assert.deepEqual(resolveUser("app", passwd, group), { uid: 1000, gid: 1001 });
  assert.deepEqual(resolveUser("1000", passwd, group), { uid: 1000, gid: 1001 });
  assert.deepEqual(resolveUser("4242", passwd, group), { uid: 4242, gid: 4242 });
  assert.deepEqual(resolveUser("app:staff", passwd, group), { uid: 1000, gid: 50 });
  assert.deepEqual(resolveUser("12:34", "", ""), { uid: 12, gid: 34 });
  assert.throws(() => resolveUser("nobody", passwd, group), CmError);
  assert.throws(() => resolveUser("app:nogroup", passwd, group), CmError);
});
