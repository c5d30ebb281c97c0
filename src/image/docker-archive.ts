/**
 * A `docker save` (or `skopeo copy … docker-archive:`) tarball: manifest.json lists, per image, its
 * config file and its layer files (uncompressed tars, or compressed in newer archives) inside the
 * archive. The archive is scanned once for its members' offsets; layers are then streamed straight
 * out of it, each checked against the config's diff_ids as it is applied.
 */
import { createReadStream } from "node:fs";
import { posix } from "node:path";
import { Readable } from "node:stream";
import { CmError } from "../errors.ts";
import { readTar } from "../tar/reader.ts";
import { formatPlatform, type Platform, parseImageConfig } from "./manifest.ts";
import type { ResolvedImage } from "./unpack.ts";

interface Member {
  offset: number;
  size: number;
  type: string;
  linkpath: string;
  data?: Buffer;
}

const MAX_JSON = 4 * 1024 * 1024;

function bad(file: string, why: string, hint = "give a tarball written by docker save or skopeo copy … docker-archive:FILE"): CmError {
  return new CmError("bad-docker-archive", `${file} ${why}`, { hint });
}

function clean(name: string): string {
  return posix.normalize(name.replace(/^\.?\/+/, ""));
}

async function scan(file: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>();
  try {
    for await (const e of readTar(createReadStream(file, { highWaterMark: 256 * 1024 }))) {
      const m: Member = { offset: e.offset, size: e.size, type: e.type, linkpath: e.linkpath };
      const name = clean(e.path);
      if (e.type === "file" && (name.endsWith(".json") || name === "manifest.json" || name === "repositories") && e.size <= MAX_JSON) {
        const parts: Buffer[] = [];
        for await (const c of e.body) parts.push(c);
        m.data = Buffer.concat(parts);
      }
      members.set(name, m);
    }
  } catch (err) {
    if (err instanceof CmError) throw bad(file, `is not a valid tar archive (${err.message})`);
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw bad(file, "does not exist");
    if ((err as NodeJS.ErrnoException).code === "EISDIR") throw bad(file, "is a directory, not a tarball");
    throw err;
  }
  return members;
}

/** A member, following symbolic links inside the archive (old docker save links duplicate layers). */
function member(members: Map<string, Member>, name: string, file: string): Member {
  let n = clean(name);
  for (let hops = 0; hops < 8; hops++) {
    const m = members.get(n);
    if (!m) throw bad(file, `lacks ${JSON.stringify(name)}, which its manifest.json names`);
    if (m.type === "symlink" || m.type === "hardlink") {
      n = clean(m.type === "symlink" ? posix.join(posix.dirname(n), m.linkpath) : m.linkpath);
      if (n.startsWith("../")) throw bad(file, `has a link ${JSON.stringify(name)} that leaves the archive`);
      continue;
    }
    if (m.type !== "file") throw bad(file, `has ${JSON.stringify(name)}, which is not a file`);
    return m;
  }
  throw bad(file, `has a loop of links at ${JSON.stringify(name)}`);
}

export async function resolveDockerArchive(file: string, platform: Platform): Promise<ResolvedImage> {
  const members = await scan(file);
  const manifestJson = members.get("manifest.json")?.data;
  if (!manifestJson) throw bad(file, "has no manifest.json (is it a docker save tarball?)");
  let list: unknown;
  try {
    list = JSON.parse(manifestJson.toString("utf8"));
  } catch {
    throw bad(file, "has a manifest.json that is not valid JSON");
  }
  if (!Array.isArray(list) || list.length === 0) throw bad(file, "has an empty manifest.json");
  if (list.length > 1)
    throw bad(file, `holds ${list.length} images; cm takes archives of one image`, "save one image per tarball (docker save IMAGE)");
  const entry = list[0] as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
  if (typeof entry.Config !== "string" || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === "string")) {
    throw bad(file, "has a manifest.json without Config and Layers");
  }
  const configMember = member(members, entry.Config, file);
  const configBytes = configMember.data;
  if (!configBytes) throw bad(file, "has an image config that is too large");
  const name = `docker-archive:${file}`;
  const config = parseImageConfig(configBytes, name);
  if (config.os && config.architecture && (config.os !== platform.os || config.architecture !== platform.architecture)) {
    throw new CmError(
      "no-matching-platform",
      `${name} is an image for ${config.os}/${config.architecture}, not ${formatPlatform(platform)}`,
      {
        hint: "this host cannot run it; save an image built for this platform",
      },
    );
  }
  const layers = entry.Layers as string[];
  if (config.diffIds.length !== layers.length) throw bad(file, `lists ${layers.length} layers, but its config ${config.diffIds.length}`);
  const n = layers.length;
  return {
    description: name,
    digest: undefined,
    config,
    layers: layers.map((l, i) => {
      const m = member(members, l, file);
      return {
        what: `layer ${i + 1}/${n} (${l})`,
        size: m.size,
        diffId: config.diffIds[i],
        open: async () =>
          m.size === 0
            ? Readable.from([])
            : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 256 * 1024 }),
      };
    }),
  };
}
