import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { checkPidsLimit, cpuLimit, parseCpus, parseNetwork, parsePidsLimit, parseWorkdir } from "../../../../src/core/run/resources.ts";
import { CmError } from "../../../../src/errors.ts";

describe("--cpus", () => {
  test("fractions become a CFS quota over a 100 ms period", () => {
    assert.deepEqual(cpuLimit(parseCpus("1.5"), 2), { quota: 150000, period: 100000 });
    assert.deepEqual(cpuLimit(parseCpus("0.5"), 2), { quota: 50000, period: 100000 });
    assert.deepEqual(cpuLimit(parseCpus(".25"), 2), { quota: 25000, period: 100000 });
    assert.deepEqual(cpuLimit(parseCpus("2"), 2), { quota: 200000, period: 100000 });
    assert.deepEqual(cpuLimit(parseCpus("0.01"), 2), { quota: 1000, period: 100000 });
  });
  test("bad syntax, zero, too small and more than the host has are refused", () => {
    for (const t of ["", "abc", "-1", "1e3", "0x2", "1,5", " 1", "Infinity", "NaN"]) assert.throws(() => parseCpus(t), CmError, t);
    assert.throws(() => cpuLimit(0, 2), CmError);
    assert.throws(() => cpuLimit(0.001, 2), /too small/);
    assert.throws(() => cpuLimit(3, 2), /more than this host's 2 CPUs/);
    assert.throws(() => cpuLimit(Number.NaN, 2), CmError);
  });
});

describe("--pids-limit", () => {
  test("a positive whole number", () => {
    assert.equal(parsePidsLimit("1"), 1);
    assert.equal(parsePidsLimit("4096"), 4096);
    for (const t of ["0", "-1", "1.5", "x", "", "99999999999999999999"]) assert.throws(() => parsePidsLimit(t), CmError, t);
    assert.throws(() => checkPidsLimit(2.5), CmError);
  });
});

describe("--workdir and --network", () => {
  test("workdir: absolute, normalised, no '.' or '..'", () => {
    assert.equal(parseWorkdir("/project/src/"), "/project/src");
    assert.equal(parseWorkdir("//tmp//x"), "/tmp/x");
    assert.equal(parseWorkdir("/"), "/");
    for (const t of ["rel", "", "/a/../b", "/./a"]) assert.throws(() => parseWorkdir(t), CmError, t);
  });
  test("network: host or none", () => {
    assert.equal(parseNetwork("host"), "host");
    assert.equal(parseNetwork("none"), "none");
    assert.throws(() => parseNetwork("bridge"), /invalid --network "bridge"/);
  });
});
