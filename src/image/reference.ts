/**
 * Image references, normalised the way Docker (distribution/reference) does:
 *
 *   debian                       -> docker.io/library/debian:latest
 *   debian:bookworm              -> docker.io/library/debian:bookworm
 *   owner/repo                   -> docker.io/owner/repo:latest
 *   ghcr.io/owner/repo:tag       -> ghcr.io/owner/repo:tag
 *   localhost:5000/repo@sha256:… -> localhost:5000/repo@sha256:…
 *
 * The first path component is a registry host when it contains "." or ":", is "localhost", or has
 * an upper-case letter; otherwise the image is on Docker Hub. Pure: no I/O.
 */
import { CmError } from "../errors.ts";

export const DOCKER_HUB = "docker.io";
/** Docker Hub's API endpoint (the name "docker.io" is not where its registry answers). */
export const DOCKER_HUB_ENDPOINT = "registry-1.docker.io";

export interface Reference {
  /** registry host as written, with port: "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000" */
  registry: string;
  /** repository path: "library/debian" */
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;

function bad(text: string, why: string): CmError {
  return new CmError("bad-reference", `invalid image reference ${JSON.stringify(text)}: ${why}`, {
    hint: "write it as [REGISTRY[:PORT]/]REPOSITORY[:TAG][@sha256:DIGEST], e.g. debian:bookworm or ghcr.io/owner/repo:1.0",
  });
}

export function isDigest(text: string): boolean {
  return DIGEST.test(text);
}

function checkHost(text: string, host: string): void {
  let name = host;
  let port: string | undefined;
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    if (end < 0) throw bad(text, `bad registry host ${JSON.stringify(host)}`);
    const inner = host.slice(1, end);
    if (!/^[0-9a-fA-F:.]+$/.test(inner) || !inner.includes(":")) throw bad(text, `bad IPv6 registry address ${JSON.stringify(host)}`);
    const after = host.slice(end + 1);
    if (after && !after.startsWith(":")) throw bad(text, `bad registry host ${JSON.stringify(host)}`);
    port = after ? after.slice(1) : undefined;
  } else {
    const colon = host.lastIndexOf(":");
    if (colon >= 0) {
      name = host.slice(0, colon);
      port = host.slice(colon + 1);
    }
    if (!name.split(".").every((l) => HOST_LABEL.test(l))) throw bad(text, `bad registry host ${JSON.stringify(host)}`);
  }
  if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && Number(port) > 0 && Number(port) < 65536)) {
    throw bad(text, `bad registry port in ${JSON.stringify(host)}`);
  }
}

export function parseReference(text: string): Reference {
  if (text === "") throw bad(text, "it is empty");
  if (text.length > 512 || /[\s\0]/.test(text)) throw bad(text, "it contains white space or is too long");
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(text, "the digest must be sha256: followed by 64 lower-case hex digits");
  }
  let tag: string | undefined;
  const slash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(text, `bad tag ${JSON.stringify(tag)}`);
  }
  let registry = DOCKER_HUB;
  let path = rest;
  const first = rest.indexOf("/");
  if (first >= 0) {
    const head = rest.slice(0, first);
    if (/[.:]/.test(head) || head === "localhost" || head !== head.toLowerCase()) {
      checkHost(text, head);
      registry = head;
      path = rest.slice(first + 1);
    }
  }
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (path === "") throw bad(text, "the repository name is missing");
  const components = path.split("/");
  for (const c of components) {
    if (!COMPONENT.test(c)) {
      throw bad(text, `${JSON.stringify(c)} is not a valid repository name component (lower-case letters, digits, and . _ - between them)`);
    }
  }
  if (registry === DOCKER_HUB && components.length === 1) path = `library/${path}`;
  if (registry.length + 1 + path.length > 255) throw bad(text, "the name is longer than 255 characters");
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository: path, tag, digest };
}

/** The canonical text: "docker.io/library/debian:bookworm", "r.example/x@sha256:…". */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ""}${ref.digest ? `@${ref.digest}` : ""}`;
}

/** What to ask the registry for: the digest when there is one (it pins the content), else the tag. */
export function manifestSelector(ref: Reference): string {
  return ref.digest ?? (ref.tag as string);
}

/** host[:port] of the registry's HTTP API. */
export function endpointHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_ENDPOINT : registry;
}

/** Hosts that may be spoken to over plain HTTP without being named with --insecure-registry. */
export function isLoopback(registry: string): boolean {
  const host = registry.startsWith("[") ? registry.slice(0, registry.indexOf("]") + 1) : registry.replace(/:[0-9]+$/, "");
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
