/**
 * Building test images without any tool: a small tar writer (ustar + pax for long names, any entry
 * the tests need, including hostile ones) and an OCI image layout writer (blobs, manifests, indexes,
 * index.json). Images are based on the busybox fixture so that they run.
 */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync, zstdCompressSync } from "node:zlib";

export interface Entry {
  path: string;
  type?: "file" | "dir" | "symlink" | "hardlink" | "char" | "block" | "fifo" | "sparse";
  mode?: number;
  content?: Buffer | string;
  linkname?: string;
  uid?: number;
  gid?: number;
  /** seconds since the epoch (default 1700000000) */
  mtime?: number;
  devmajor?: number;
  devminor?: number;
  /** extended attributes, written as pax SCHILY.xattr.NAME records (raw bytes) */
  xattrs?: Record<string, Buffer | string>;
  /** more pax records, as they are (e.g. LIBARCHIVE.xattr.NAME) */
  pax?: Record<string, string>;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

function header(name: string, e: Entry, size: number, flag: string, linkname = ""): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, "utf8");
  h.write(octal(e.mode ?? (e.type === "dir" ? 0o755 : 0o644), 8), 100, "ascii");
  h.write(octal(e.uid ?? 0, 8), 108, "ascii");
  h.write(octal(e.gid ?? 0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(e.mtime ?? 1700000000, 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(flag, 156, "ascii");
  h.write(linkname, 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  h.write(octal(e.devmajor ?? 0, 8), 329, "ascii");
  h.write(octal(e.devminor ?? 0, 8), 337, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7), 148, "ascii");
  h[155] = 0x20;
  return h;
}

function pad(n: number): Buffer {
  return Buffer.alloc((512 - (n % 512)) % 512);
}

function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from("\n")]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

const FLAGS = { file: "0", hardlink: "1", symlink: "2", char: "3", block: "4", dir: "5", fifo: "6", sparse: "S" } as const;

/** A tar archive of the entries, in order. */
export function tar(entries: Entry[]): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? "file";
    const content = type === "file" ? Buffer.from(e.content ?? "") : Buffer.alloc(0);
    const linkname = e.linkname ?? "";
    const records: Buffer[] = [];
    if (Buffer.byteLength(e.path) > 99 || Buffer.byteLength(linkname) > 99) {
      records.push(paxRecord("path", e.path));
      if (linkname) records.push(paxRecord("linkpath", linkname));
    }
    for (const [name, value] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${name}`, value));
    for (const [key, value] of Object.entries(e.pax ?? {})) records.push(paxRecord(key, value));
    if (records.length) {
      const pax = Buffer.concat(records);
      out.push(header("PaxHeader", { path: "PaxHeader" }, pax.length, "x"), pax, pad(pax.length));
    }
    out.push(header(e.path.slice(0, 99), e, content.length, FLAGS[type], linkname.slice(0, 99)), content, pad(content.length));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

/** The entries of a directory tree (files, directories, symlinks), paths relative to it. */
export function treeEntries(root: string, prefix = ""): Entry[] {
  const out: Entry[] = [];
  for (const name of readdirSync(join(root, prefix)).sort()) {
    const rel = prefix ? `${prefix}/${name}` : name;
    const st = lstatSync(join(root, rel));
    if (st.isDirectory()) {
      out.push({ path: rel, type: "dir", mode: st.mode & 0o7777 });
      out.push(...treeEntries(root, rel));
    } else if (st.isSymbolicLink()) out.push({ path: rel, type: "symlink", linkname: readlinkSync(join(root, rel)) });
    else if (st.isFile()) out.push({ path: rel, type: "file", mode: st.mode & 0o7777, content: readFileSync(join(root, rel)) });
  }
  return out;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string; variant?: string };
  annotations?: Record<string, string>;
}

export type Compression = "gzip" | "zstd" | "none";

export interface LayerSpec {
  entries?: Entry[];
  /** raw layer bytes instead of entries */
  raw?: Buffer;
  compression?: Compression;
  mediaType?: string;
}

export interface ImageSpec {
  layers: LayerSpec[];
  config?: { Env?: string[]; Cmd?: string[]; Entrypoint?: string[]; User?: string; WorkingDir?: string };
  os?: string;
  architecture?: string;
  variant?: string;
  /** "docker" writes Docker schema 2 media types */
  format?: "oci" | "docker";
}

export function digestOf(b: Buffer): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

export class Layout {
  readonly dir: string;
  private readonly refs: Descriptor[] = [];
  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    this.save();
  }

  blob(bytes: Buffer, mediaType: string): Descriptor {
    const digest = digestOf(bytes);
    writeFileSync(join(this.dir, "blobs", "sha256", digest.slice(7)), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  image(spec: ImageSpec): Descriptor {
    const docker = spec.format === "docker";
    const diffIds: string[] = [];
    const layers = spec.layers.map((l) => {
      const raw = l.raw ?? tar(l.entries ?? []);
      diffIds.push(digestOf(raw));
      const c = l.compression ?? "gzip";
      const bytes = c === "gzip" ? gzipSync(raw, { level: 1 }) : c === "zstd" ? zstdCompressSync(raw) : raw;
      const mediaType =
        l.mediaType ??
        (docker
          ? c === "gzip"
            ? "application/vnd.docker.image.rootfs.diff.tar.gzip"
            : "application/vnd.docker.image.rootfs.diff.tar"
          : `application/vnd.oci.image.layer.v1.tar${c === "gzip" ? "+gzip" : c === "zstd" ? "+zstd" : ""}`);
      return this.blob(bytes, mediaType);
    });
    const config = {
      architecture: spec.architecture ?? "amd64",
      os: spec.os ?? "linux",
      ...(spec.variant ? { variant: spec.variant } : {}),
      config: spec.config ?? {},
      rootfs: { type: "layers", diff_ids: diffIds },
    };
    const configDesc = this.blob(
      Buffer.from(JSON.stringify(config)),
      docker ? "application/vnd.docker.container.image.v1+json" : "application/vnd.oci.image.config.v1+json",
    );
    const mediaType = docker ? "application/vnd.docker.distribution.manifest.v2+json" : "application/vnd.oci.image.manifest.v1+json";
    const manifest = { schemaVersion: 2, mediaType, config: configDesc, layers };
    const d = this.blob(Buffer.from(JSON.stringify(manifest)), mediaType);
    d.platform = { os: config.os, architecture: config.architecture, ...(spec.variant ? { variant: spec.variant } : {}) };
    return d;
  }

  index(manifests: Descriptor[], format: "oci" | "docker" = "oci"): Descriptor {
    const mediaType =
      format === "docker" ? "application/vnd.docker.distribution.manifest.list.v2+json" : "application/vnd.oci.image.index.v1+json";
    return this.blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests })), mediaType);
  }

  tag(d: Descriptor, tag: string): void {
    const { platform: _p, ...plain } = d;
    this.refs.push({ ...plain, annotations: { "org.opencontainers.image.ref.name": tag } });
    this.save();
  }

  private save(): void {
    writeFileSync(
      join(this.dir, "index.json"),
      JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: this.refs }),
    );
  }
}
