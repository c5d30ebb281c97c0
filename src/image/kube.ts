/**
 * A Kubernetes Pod manifest (core/v1 Pod) that runs an exported image as `cm run` would: the
 * project directory mounted at /project (a hostPath volume: the Pod must run on the machine that
 * has it, as `podman kube play` does), the image's Entrypoint/Cmd, cm.toml's environment, memory
 * and CPU limits as container resource limits, a read-only root filesystem, cm.toml's extra
 * volumes, the host's network (cm's default: hostNetwork) or, for network "none", the Pod's own
 * network namespace plus a NetworkPolicy that denies all ingress and egress (Kubernetes has no
 * "no network" setting for a Pod; a cluster without a NetworkPolicy controller does not enforce it,
 * which the manifest's comment says). A PID limit has no per-Pod field (it is the kubelet's
 * podPidsLimit), so it is refused rather than dropped. Pure: text out.
 */
import { CmError } from "../errors.ts";

export interface KubeInput {
  /** the Pod's name: made a DNS-1123 label here */
  name: string;
  image: string;
  projectPath: string;
  env: { name: string; value: string }[];
  memoryBytes?: number | undefined;
  cpus?: number | undefined;
  pidsLimit?: number | undefined;
  readOnly?: boolean | undefined;
  network: "host" | "none";
  workingDir: string;
  volumes: { source: string; destination: string; readOnly: boolean }[];
}

/** A DNS-1123 label (lower-case letters, digits, '-'; at most 63; starts and ends alphanumeric). Pure. */
export function dnsLabel(text: string): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return s === "" ? "cm" : s;
}

/** A YAML double-quoted scalar: JSON's string syntax is valid YAML (YAML 1.2 is a superset of JSON). */
function q(text: string): string {
  return JSON.stringify(text);
}

/** CPUs as a Kubernetes quantity in millicores ("1500m"). */
export function cpuQuantity(cpus: number): string {
  return `${Math.round(cpus * 1000)}m`;
}

export function podManifest(input: KubeInput): string {
  if (input.pidsLimit !== undefined) {
    throw new CmError("kube-unsupported", "a PID limit (pids_limit) cannot be set in a Pod manifest", {
      hint: "Kubernetes sets it per node (the kubelet's podPidsLimit); remove pids_limit from cm.toml to export --kube",
    });
  }
  const name = dnsLabel(input.name);
  const lines: string[] = [
    "# Written by cm export --kube: runs the exported image as cm run would, the project mounted at /project.",
    "apiVersion: v1",
    "kind: Pod",
    "metadata:",
    `  name: ${q(name)}`,
    "  labels:",
    `    app.kubernetes.io/name: ${q(name)}`,
    "    app.kubernetes.io/managed-by: cm",
    "spec:",
    "  restartPolicy: Never",
  ];
  if (input.network === "host") lines.push("  hostNetwork: true");
  lines.push("  containers:", `    - name: ${q(name)}`, `      image: ${q(input.image)}`, "      imagePullPolicy: IfNotPresent");
  lines.push(`      workingDir: ${q(input.workingDir)}`);
  if (input.env.length > 0) {
    lines.push("      env:");
    for (const e of input.env) lines.push(`        - name: ${q(e.name)}`, `          value: ${q(e.value)}`);
  }
  if (input.memoryBytes !== undefined || input.cpus !== undefined) {
    lines.push("      resources:", "        limits:");
    if (input.memoryBytes !== undefined) lines.push(`          memory: ${q(String(input.memoryBytes))}`);
    if (input.cpus !== undefined) lines.push(`          cpu: ${q(cpuQuantity(input.cpus))}`);
  }
  lines.push("      securityContext:", `        readOnlyRootFilesystem: ${input.readOnly === true}`);
  lines.push("      volumeMounts:", '        - name: "project"', '          mountPath: "/project"');
  input.volumes.forEach((v, i) => {
    lines.push(`        - name: "volume-${i + 1}"`, `          mountPath: ${q(v.destination)}`);
    if (v.readOnly) lines.push("          readOnly: true");
  });
  lines.push("  volumes:", '    - name: "project"', "      hostPath:", `        path: ${q(input.projectPath)}`, "        type: Directory");
  input.volumes.forEach((v, i) => {
    lines.push(`    - name: "volume-${i + 1}"`, "      hostPath:", `        path: ${q(v.source)}`);
  });
  if (input.network === "none") {
    lines.push(
      "---",
      "# cm run --network none: no traffic in or out (enforced where the cluster runs a NetworkPolicy controller).",
      "apiVersion: networking.k8s.io/v1",
      "kind: NetworkPolicy",
      "metadata:",
      `  name: ${q(`${name}-no-network`)}`,
      "spec:",
      "  podSelector:",
      "    matchLabels:",
      `      app.kubernetes.io/name: ${q(name)}`,
      "  policyTypes:",
      "    - Ingress",
      "    - Egress",
    );
  }
  return `${lines.join("\n")}\n`;
}
