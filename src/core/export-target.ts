/**
 * `cm export --to` values, with skopeo's transport syntax (containers-transports(5)):
 *   oci-layout:DIR[:TAG]        TAG defaults to "latest"; DIR:TAG is split at the last ':' unless
 *                               what follows contains '/' (then it is all DIR)
 *   docker-archive:FILE[:REF]   FILE ends at the first ':' (as skopeo reads it); REF defaults to
 *                               localhost/<project>:<bundle>
 *   image:REGISTRY/REPO:TAG     a registry reference; a digest is refused (the digest is the result)
 * Pure.
 */
import { CmError } from "../errors.ts";

export type ExportTarget =
  | { kind: "oci-layout"; dir: string; tag: string }
  | { kind: "docker-archive"; file: string; ref: string | undefined }
  | { kind: "image"; ref: string };

const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

function bad(text: string, why: string, hint = "see cm export --help"): CmError {
  return new CmError("usage", `export: bad --to ${JSON.stringify(text)}: ${why}`, { hint });
}

export function parseTarget(text: string): ExportTarget {
  const colon = text.indexOf(":");
  const transport = colon < 0 ? "" : text.slice(0, colon);
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  if (transport === "oci-layout") {
    let dir = rest;
    let tag = "latest";
    const last = rest.lastIndexOf(":");
    if (last > 0 && !rest.slice(last + 1).includes("/")) {
      dir = rest.slice(0, last);
      tag = rest.slice(last + 1);
      if (!TAG.test(tag)) throw bad(text, `${JSON.stringify(tag)} is not a valid tag`);
    }
    if (dir === "") throw bad(text, "the directory is missing");
    return { kind: "oci-layout", dir, tag };
  }
  if (transport === "docker-archive") {
    const at = rest.indexOf(":");
    const file = at < 0 ? rest : rest.slice(0, at);
    const ref = at < 0 ? undefined : rest.slice(at + 1);
    if (file === "") throw bad(text, "the file name is missing");
    if (ref === "") throw bad(text, "the reference after the file name is empty");
    return { kind: "docker-archive", file, ref };
  }
  if (transport === "image") {
    if (rest === "") throw bad(text, "the image reference is missing");
    if (rest.includes("@")) throw bad(text, "push to a tag, not a digest", "the digest is what cm export prints");
    return { kind: "image", ref: rest };
  }
  throw bad(text, "unknown destination", "give oci-layout:DIR[:TAG], docker-archive:FILE[:REF] or image:REGISTRY/REPO:TAG");
}

/** A default image name from project and bundle names: localhost/<project>:<bundle>, made valid. Pure. */
export function defaultImageName(project: string, bundle: string): string {
  const repo =
    project
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, "-")
      .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "") || "project";
  const tag = bundle.replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[.-]+/, "") || "latest";
  return `localhost/${repo}:${tag.slice(0, 128)}`;
}
