import { hostContext } from "../actions/context.ts";
import { exportBundle } from "../actions/export.ts";
import { defineCommand } from "../core/command.ts";
import { parseCpus, parseNetwork } from "../core/run/resources.ts";
import { parseSize } from "../core/size.ts";
import { CmError } from "../errors.ts";
import { parseCommand, tooMany } from "./args.ts";

export const command = defineCommand({
  name: "export",
  positionals: [{ name: "BUNDLE", optional: true, complete: "bundle" }],
  synopsis: ["export [BUNDLE] --to DESTINATION [OPTIONS]"],
  description: `Write a bundle of the current project as an OCI image, for Podman, Docker, Kubernetes or CI.
The image has the bundle's root filesystem as one layer (files owned by the ids seen inside the
container) and a config with what cm run uses: Env, WorkingDir /project, Entrypoint/Cmd (the
bundle's or cm.toml's; a login shell when neither has one), User, and labels (dev.cm.version,
dev.cm.source). The project directory is not in the image: mount it at /project, or give
--with-project. BUNDLE defaults to "default". Prints the image's manifest digest.

Destinations:
  oci-layout:DIR[:TAG]        an OCI image layout directory (added to if it is one); TAG: latest
  docker-archive:FILE[:REF]   a tarball for podman load / docker load, the image named REF
                              (default localhost/PROJECT:BUNDLE)
  image:REGISTRY/REPO:TAG     pushed to a registry, with the credentials podman login and docker
                              login store (and their credential helpers); blobs the registry has
                              already are not sent again`,
  options: {
    to: { type: "string", value: "DESTINATION", help: "where the image goes (required)" },
    "with-project": {
      type: "boolean",
      help: "copy the project directory into the image at /project (a second layer, owned by root), for engines that cannot mount it",
    },
    "exclude-from": {
      type: "string",
      value: "FILE",
      complete: "file",
      help: "with --with-project: leave out paths matching FILE's .gitignore-style patterns (relative to the project directory)",
    },
    kube: {
      type: "string",
      value: "FILE",
      complete: "file",
      help: `also write a Kubernetes Pod manifest to FILE that runs the image with the project mounted at
/project (hostPath), cm.toml's env, memory and CPU limits as resources, a read-only root with
--read-only, and no network with --network none (a deny-all NetworkPolicy); podman kube play FILE
runs it. Its image: REF, the pushed reference, or localhost/PROJECT:TAG for a layout`,
    },
    network: { type: "string", value: "MODE", complete: ["host", "none"], help: "for --kube: host (default) or none" },
    memory: { type: "string", value: "SIZE", help: "for --kube: memory limit (as cm run --memory)" },
    cpus: { type: "string", value: "N", help: "for --kube: CPU limit (as cm run --cpus)" },
    "read-only": { type: "boolean", help: "for --kube: read-only root filesystem" },
    "insecure-registry": {
      type: "string",
      multiple: true,
      value: "HOST[:PORT]",
      help: "allow plain HTTP to HOST (loopback registries always may); may be repeated",
    },
    project: { type: "string", value: "NAME", complete: "project", help: "use the project NAME" },
    json: { type: "boolean", help: 'print {"digest", "size", "config", "layers", "to", ...} as JSON instead' },
    quiet: { type: "boolean", short: "q", help: "print only errors and the digest" },
  },
  footer: `Environment: SOURCE_DATE_EPOCH (seconds) clamps every time in the image (default: the bundle's
creation time), so the same bundle exported twice gives the same digest.`,
});

export async function main(argv: string[]): Promise<number> {
  const p = parseCommand(command, argv);
  const v = p.values;
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("export", [...p.positionals.slice(1), ...p.rest]);
  const to = v.to;
  if (to === undefined) {
    throw new CmError("usage", "export: --to is required", {
      hint: "give --to oci-layout:DIR, --to docker-archive:FILE or --to image:REGISTRY/REPO:TAG",
    });
  }
  const kube = v.kube;
  const network = v.network;
  const memory = v.memory;
  const cpus = v.cpus;
  if (kube === undefined && (network !== undefined || memory !== undefined || cpus !== undefined || v["read-only"] === true)) {
    throw new CmError("usage", "export: --network, --memory, --cpus and --read-only apply to the --kube manifest", {
      hint: "add --kube FILE, or leave them out (the image itself carries no limits)",
    });
  }
  await exportBundle(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: v.project,
    to,
    withProject: v["with-project"] === true,
    excludeFrom: v["exclude-from"],
    kube,
    network: network === undefined ? undefined : parseNetwork(network),
    memoryBytes: memory === undefined ? undefined : parseSize(memory, "--memory"),
    cpus: cpus === undefined ? undefined : parseCpus(cpus),
    readOnly: v["read-only"] === true ? true : undefined,
    insecureRegistries: v["insecure-registry"] ?? [],
    json: v.json === true,
    quiet: v.quiet === true,
  });
  return 0;
}
