import { hostContext } from "../actions/context.ts";
import { exportBundle } from "../actions/export.ts";
import { parseCpus, parseNetwork } from "../core/run/resources.ts";
import { parseSize } from "../core/size.ts";
import { CmError } from "../errors.ts";
import { parse, str, tooMany } from "./args.ts";

export const usage = `Usage: cm export [BUNDLE] --to DESTINATION [OPTIONS]

Write a bundle of the current project as an OCI image, for Podman, Docker, Kubernetes or CI.
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
                              already are not sent again

Options:
  --to DESTINATION     where the image goes (required)
  --with-project       copy the project directory into the image at /project (a second layer,
                       owned by root), for engines that cannot mount it
  --exclude-from FILE  with --with-project: leave out paths matching FILE's .gitignore-style
                       patterns (relative to the project directory)
  --kube FILE          also write a Kubernetes Pod manifest to FILE that runs the image with the
                       project mounted at /project (hostPath), cm.toml's env, memory and CPU
                       limits as resources, a read-only root with --read-only, and no network
                       with --network none (a deny-all NetworkPolicy); podman kube play FILE runs it.
                       Its image: REF, the pushed reference, or localhost/PROJECT:TAG for a layout
  --network MODE       for --kube: host (default) or none
  --memory SIZE        for --kube: memory limit (as cm run --memory)
  --cpus N             for --kube: CPU limit (as cm run --cpus)
  --read-only          for --kube: read-only root filesystem
  --insecure-registry HOST[:PORT]
                       allow plain HTTP to HOST (loopback registries always may); may be repeated
  --project NAME       use the project NAME
  --json               print {"digest", "size", "config", "layers", "to", ...} as JSON instead
  -q, --quiet          print only errors and the digest
  -h, --help           show this help

Environment: SOURCE_DATE_EPOCH (seconds) clamps every time in the image (default: the bundle's
creation time), so the same bundle exported twice gives the same digest.
`;

export async function main(argv: string[]): Promise<number> {
  const p = parse("export", argv, {
    to: { type: "string" },
    "with-project": { type: "boolean" },
    "exclude-from": { type: "string" },
    kube: { type: "string" },
    network: { type: "string" },
    memory: { type: "string" },
    cpus: { type: "string" },
    "read-only": { type: "boolean" },
    "insecure-registry": { type: "string", multiple: true },
    project: { type: "string" },
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
  });
  if (p.positionals.length > 1 || p.rest.length > 0) throw tooMany("export", [...p.positionals.slice(1), ...p.rest]);
  const to = str(p.values.to);
  if (to === undefined) {
    throw new CmError("usage", "export: --to is required", {
      hint: "give --to oci-layout:DIR, --to docker-archive:FILE or --to image:REGISTRY/REPO:TAG",
    });
  }
  const kube = str(p.values.kube);
  const network = str(p.values.network);
  const memory = str(p.values.memory);
  const cpus = str(p.values.cpus);
  if (kube === undefined && (network !== undefined || memory !== undefined || cpus !== undefined || p.values["read-only"] === true)) {
    throw new CmError("usage", "export: --network, --memory, --cpus and --read-only apply to the --kube manifest", {
      hint: "add --kube FILE, or leave them out (the image itself carries no limits)",
    });
  }
  await exportBundle(hostContext(), {
    bundle: p.positionals[0] ?? "default",
    project: str(p.values.project),
    to,
    withProject: p.values["with-project"] === true,
    excludeFrom: str(p.values["exclude-from"]),
    kube,
    network: network === undefined ? undefined : parseNetwork(network),
    memoryBytes: memory === undefined ? undefined : parseSize(memory, "--memory"),
    cpus: cpus === undefined ? undefined : parseCpus(cpus),
    readOnly: p.values["read-only"] === true ? true : undefined,
    insecureRegistries: Array.isArray(p.values["insecure-registry"]) ? p.values["insecure-registry"] : [],
    json: p.values.json === true,
    quiet: p.values.quiet === true,
  });
  return 0;
}
