/**
 * `--host-ca`: the container trusts what the host trusts. Pure: certificate bundles come in as text.
 *
 * How (decided in ARCHITECTURE.md): per run, cm writes one combined bundle — the host's
 * certificates, then those of the bundle's own store that the host lacks — and an apt.conf
 * naming it, as two files of the run directory (hostCaFiles), and binds them read-only below
 * HOST_CA_DIR (hostCaMounts). The variables below point the usual TLS stacks at the combined
 * bundle. The rootfs's own store (/etc/ssl/certs/ca-certificates.crt) is neither replaced nor
 * bound over, so `apt-get install ca-certificates` inside works and changes nothing for the run.
 */
import { join } from "node:path";
import type { Mount } from "../runtime-spec/types.ts";
import type { RunFile } from "./plan.ts";

/** Where the per-run files (combined bundle + apt.conf) are bound inside, read-only. */
export const HOST_CA_DIR = "/run/cm/ca";
/** Their names in the run directory. */
export const HOST_CA_RUN_FILES = { bundle: "host-ca.crt", aptConf: "host-ca-apt.conf" } as const;
export const HOST_CA_BUNDLE = `${HOST_CA_DIR}/ca-certificates.crt`;
export const HOST_CA_APT_CONF = `${HOST_CA_DIR}/apt.conf`;

/**
 * System bundles, the first existing one is "the" store: Debian/Ubuntu/Alpine, Fedora/RHEL,
 * openSUSE, CentOS 6 (the list Go's crypto/x509 searches on Linux).
 */
export const SYSTEM_BUNDLES = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/pki/tls/cacert.pem",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
] as const;

/** Bundles larger than this are refused (the Debian one is ~220 KB). */
export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

/**
 * The variables `--host-ca` sets (an explicit --env of the same name wins):
 *   SSL_CERT_FILE        OpenSSL's default file: curl, Python's ssl/urllib, Ruby, Go's crypto/x509
 *   CURL_CA_BUNDLE       curl (checked before SSL_CERT_FILE), pip
 *   REQUESTS_CA_BUNDLE   Python requests (else certifi's own bundle), pip
 *   NODE_EXTRA_CA_CERTS  Node and npm (added to Node's built-in roots)
 *   GIT_SSL_CAINFO       git (Debian's is built on GnuTLS, which ignores SSL_CERT_FILE)
 *   APT_CONFIG           apt: read before apt.conf.d, so additive; sets Acquire::https::CaInfo
 *                        (apt's https is GnuTLS too)
 */
export function hostCaEnv(): string[] {
  return [
    `SSL_CERT_FILE=${HOST_CA_BUNDLE}`,
    `CURL_CA_BUNDLE=${HOST_CA_BUNDLE}`,
    `REQUESTS_CA_BUNDLE=${HOST_CA_BUNDLE}`,
    `NODE_EXTRA_CA_CERTS=${HOST_CA_BUNDLE}`,
    `GIT_SSL_CAINFO=${HOST_CA_BUNDLE}`,
    `APT_CONFIG=${HOST_CA_APT_CONF}`,
  ];
}

/** The apt.conf APT_CONFIG names: apt's https method trusts the combined bundle. */
export function hostCaAptConf(): string {
  return `// written by cm for --host-ca: apt reads this before /etc/apt/apt.conf.d\nAcquire::https::CaInfo "${HOST_CA_BUNDLE}";\n`;
}

const PEM = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

/**
 * The certificates of a PEM bundle, each as its base64 body without whitespace (a canonical form:
 * the same certificate in two bundles compares equal). Anything that is not a certificate block
 * (comments, private keys, OpenSSL's "TRUSTED CERTIFICATE" blocks, other text) is dropped: only
 * certificates ever leave a file cm reads.
 */
export function pemCertificates(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(PEM)) {
    const body = (m[1] ?? "").replace(/\s+/g, "");
    if (body.length > 0) out.push(body);
  }
  return out;
}

/** Certificates as a PEM bundle (64 characters a line, as OpenSSL writes them). */
export function formatPem(certs: readonly string[]): string {
  return certs.map((b) => `-----BEGIN CERTIFICATE-----\n${(b.match(/.{1,64}/g) ?? []).join("\n")}\n-----END CERTIFICATE-----\n`).join("");
}

/** The union of bundles, in order, each certificate once. */
export function unionCertificates(...bundles: (readonly string[])[]): string[] {
  return [...new Set(bundles.flat())];
}

/** The certificates of `host` that `store` lacks. */
export function missingCertificates(host: readonly string[], store: readonly string[]): string[] {
  const have = new Set(store);
  return [...new Set(host)].filter((c) => !have.has(c));
}

/**
 * The run files of `--host-ca`: the combined bundle (the host's certificates, then those of the
 * rootfs's own store the host lacks) and the apt.conf, readable by any user inside (0644).
 */
export function hostCaFiles(host: readonly string[], own: readonly string[]): RunFile[] {
  return [
    { name: HOST_CA_RUN_FILES.bundle, content: formatPem(unionCertificates(host, own)), mode: 0o644 },
    { name: HOST_CA_RUN_FILES.aptConf, content: hostCaAptConf(), mode: 0o644 },
  ];
}

/** The read-only binds of those files from the run directory `dir` (host path) to HOST_CA_DIR. */
export function hostCaMounts(dir: string): Mount[] {
  const options = ["bind", "ro", "nosuid", "nodev", "noexec"];
  return [
    { destination: HOST_CA_BUNDLE, type: "bind", source: join(dir, HOST_CA_RUN_FILES.bundle), options },
    { destination: HOST_CA_APT_CONF, type: "bind", source: join(dir, HOST_CA_RUN_FILES.aptConf), options },
  ];
}
