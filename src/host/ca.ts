/**
 * Reading certificate bundles for `--host-ca` and `cm doctor` (core/run/hostca.ts says what a run
 * makes of them and why). Only certificate blocks are ever taken from a
 * file read here (pemCertificates), so a bundle path that a hostile rootfs turns into a symlink
 * to some other host file yields at most certificates, which are public.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { MAX_BUNDLE_BYTES, pemCertificates, SYSTEM_BUNDLES } from "../core/run/hostca.ts";
import { CmError } from "../errors.ts";
import { resolveInRoot } from "./fs.ts";

export interface HostBundle {
  /** the file read: $SSL_CERT_FILE, else the first system bundle that exists */
  path: string;
  /** its certificates (pemCertificates' canonical form) */
  certs: string[];
}

/** A regular file's text, at most MAX_BUNDLE_BYTES; undefined when there is none at `path` (ENOENT, ENOTDIR). */
function readBundle(path: string, nofollow: boolean): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (nofollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || (nofollow && code === "ELOOP")) return undefined;
    throw err;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (st.size > MAX_BUNDLE_BYTES) throw new Error(`larger than ${MAX_BUNDLE_BYTES} bytes`);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

/**
 * What the host trusts: the file named by `SSL_CERT_FILE` in `env` when set (the user chose it),
 * else the host's system bundle. Errors: no bundle, an unreadable one, one without certificates.
 */
export function readHostBundle(env: NodeJS.ProcessEnv): HostBundle {
  const named = env.SSL_CERT_FILE;
  const candidates = named ? [named] : [...SYSTEM_BUNDLES];
  for (const path of candidates) {
    let text: string | undefined;
    try {
      text = readBundle(path, false);
    } catch (err) {
      throw new CmError("bad-host-ca", `--host-ca: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
        hint: named ? "set SSL_CERT_FILE to a readable PEM bundle, or unset it" : "make the host's CA bundle readable",
      });
    }
    if (text === undefined) {
      if (named) {
        throw new CmError("bad-host-ca", `--host-ca: SSL_CERT_FILE=${named} is not a file`, {
          hint: "set SSL_CERT_FILE to your PEM bundle, or unset it to use the system's",
        });
      }
      continue;
    }
    const certs = pemCertificates(text);
    if (certs.length === 0) {
      throw new CmError("bad-host-ca", `--host-ca: ${path} holds no PEM certificates`, {
        hint: named ? "set SSL_CERT_FILE to a PEM bundle (-----BEGIN CERTIFICATE-----)" : "reinstall ca-certificates on the host",
      });
    }
    return { path, certs };
  }
  throw new CmError("bad-host-ca", `--host-ca: the host has no CA bundle (looked for ${SYSTEM_BUNDLES.join(", ")})`, {
    hint: "set SSL_CERT_FILE to the PEM bundle your host trusts",
  });
}

/**
 * The certificates of a root filesystem's own store (the first of SYSTEM_BUNDLES it has, resolved
 * inside the rootfs), with the path inside; undefined when it has none.
 */
export function readRootfsBundle(rootfs: string): { path: string; certs: string[] } | undefined {
  for (const path of SYSTEM_BUNDLES) {
    let text: string | undefined;
    try {
      text = readBundle(resolveInRoot(rootfs, path), true);
    } catch {
      continue; // unreadable or oversized: not a store cm can use
    }
    if (text !== undefined) return { path, certs: pemCertificates(text) };
  }
  return undefined;
}
