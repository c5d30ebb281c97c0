import assert from "node:assert/strict";
import { test } from "node:test";
import { cpuQuantity, dnsLabel, podManifest } from "../../../src/image/kube.ts";

const input = {
  name: "My_Proj-default",
  image: "localhost/my:v1",
  projectPath: "/home/u/my proj",
  env: [{ name: "A", value: 'quote " and \\ back' }],
  network: "host" as const,
  workingDir: "/project",
  volumes: [{ source: "/data", destination: "/data", readOnly: true }],
};

test("a Pod with the project as a hostPath volume, host network, env quoted as JSON strings", () => {
  const y = podManifest(input);
  assert.match(y, /^kind: Pod$/m);
  assert.match(y, /name: "my-proj-default"/);
  assert.match(y, /hostNetwork: true/);
  assert.match(y, /path: "\/home\/u\/my proj"/);
  assert.match(y, /value: "quote \\" and \\\\ back"/);
  assert.match(y, /readOnlyRootFilesystem: false/);
  assert.match(y, /mountPath: "\/data"\n\s+readOnly: true/);
  assert.doesNotMatch(y, /resources:/);
  assert.doesNotMatch(y, /NetworkPolicy/);
});

test("limits become resources; network none: no hostNetwork, a deny-all NetworkPolicy", () => {
  const y = podManifest({ ...input, memoryBytes: 64 * 1024 * 1024, cpus: 1.5, readOnly: true, network: "none" });
  assert.match(y, /memory: "67108864"/);
  assert.match(y, /cpu: "1500m"/);
  assert.match(y, /readOnlyRootFilesystem: true/);
  assert.doesNotMatch(y, /hostNetwork/);
  assert.match(y, /---\n[\s\S]*kind: NetworkPolicy[\s\S]*- Ingress\n\s+- Egress/);
});

test("a PID limit cannot be expressed: refused, not dropped", () => {
  assert.throws(() => podManifest({ ...input, pidsLimit: 100 }), /PID limit/);
});

test("names and quantities", () => {
  assert.equal(dnsLabel("A.B__c-"), "a-b-c");
  assert.equal(dnsLabel("x".repeat(80)).length, 63);
  assert.equal(dnsLabel("---"), "cm");
  assert.equal(cpuQuantity(0.25), "250m");
});
