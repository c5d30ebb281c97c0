import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseUserns, idMappings, mappingKey, parseUsernsMode, toContainerId, unshareArgs } from "../../../src/core/userns.ts";
import { CmError } from "../../../src/errors.ts";

const map = { uid: 1001, gid: 1002, subuid: { start: 100000, count: 65536 }, subgid: { start: 300000, count: 500 } };

test("--userns takes range or single; anything else is one clear error", () => {
  assert.equal(parseUsernsMode("range"), "range");
  assert.equal(parseUsernsMode("single"), "single");
  assert.throws(
    () => parseUsernsMode("keep-id"),
    (e: unknown) =>
      e instanceof CmError && /--userns "keep-id" is not a user namespace mode/.test(e.message) && /range|single/.test(e.hint ?? ""),
  );
});

test("the default is range where the user has one, else single with one notice saying what is lost and how to get one", () => {
  const facts = { rootless: true, user: "ann", why: "" };
  assert.deepEqual(chooseUserns({ ...facts, requested: undefined, available: map }), { mode: "range", map });
  assert.deepEqual(chooseUserns({ ...facts, requested: "single", available: map }), { mode: "single" });
  const fallback = chooseUserns({ ...facts, requested: undefined, available: undefined, why: "no /etc/subuid range for ann" });
  assert.equal(fallback.mode, "single");
  assert.match(fallback.notice ?? "", /no \/etc\/subuid range for ann/);
  assert.match(fallback.notice ?? "", /chown to system users or groups/);
  assert.match(fallback.notice ?? "", /usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ann/);
  assert.match(fallback.notice ?? "", /apt-get install uidmap/);
  assert.throws(
    () => chooseUserns({ ...facts, requested: "range", available: undefined, why: "newuidmap/newgidmap missing" }),
    (e: unknown) => e instanceof CmError && e.code === "userns-unavailable" && /newuidmap\/newgidmap missing/.test(e.message),
  );
  assert.deepEqual(chooseUserns({ ...facts, rootless: false, requested: undefined, available: map }), { mode: "none" });
});

test("unshare maps the user to 0 and the ranges to 1..N; base keys name the whole mapping", () => {
  assert.deepEqual(unshareArgs(idMappings(map.uid, map.gid, map), map.uid, map.gid), [
    "--map-user=0",
    "--map-users=100000,1,65536",
    "--map-group=0",
    "--map-groups=300000,1,500",
  ]);
  // a single-id bundle's recorded mappings (cm export enters them the same way)
  assert.deepEqual(unshareArgs(idMappings(1001, 1002, undefined), 1001, 1002), ["--map-user=0", "--map-group=0"]);
  // another user's id in the mappings is a range of one, never --map-user
  assert.deepEqual(unshareArgs({ uidMappings: [{ containerID: 0, hostID: 5, size: 1 }] }, 1001, 1002), ["--map-users=5,0,1"]);
  assert.equal(mappingKey(map), "u1001-100000x65536-g1002-300000x500");
  assert.notEqual(mappingKey(map), mappingKey({ ...map, uid: 1003 }));
});

test("host ids of a tree read as container ids: own id 0, subordinate ids shifted back, others kept", () => {
  assert.equal(toContainerId(1001, 1001, map.subuid), 0);
  assert.equal(toContainerId(100000, 1001, map.subuid), 1);
  assert.equal(toContainerId(100041, 1001, map.subuid), 42);
  assert.equal(toContainerId(165535, 1001, map.subuid), 65536);
  assert.equal(toContainerId(42, 1001, map.subuid), 42);
  assert.equal(toContainerId(0, 1001, map.subuid), 0);
});
