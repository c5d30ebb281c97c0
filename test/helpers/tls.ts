/**
 * A private world of TLS for tests, on loopback only: a certificate authority made with the openssl
 * CLI, an HTTPS server on 127.0.0.1 with a certificate from it, and a small HTTP proxy (CONNECT
 * only, to 127.0.0.1 only) that records what it was asked to reach. Nothing touches the machine's
 * trust store: a test points cm at the authority with SSL_CERT_FILE in cm's environment.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { connect } from "node:net";
import { join } from "node:path";

export interface TestCa {
  dir: string;
  /** PEM of the authority's certificate */
  caCert: string;
  /** a file with only the authority (what a test sets SSL_CERT_FILE to) */
  caFile: string;
  /** the authority's subject CN */
  name: string;
  serverKey: string;
  serverCert: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

/** A new authority and a server certificate from it for 127.0.0.1 and localhost, in `dir` (world-readable). */
export function makeTestCa(dir: string, name = "cm test CA"): TestCa {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  openssl(
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", `/CN=${name}`],
    dir,
  );
  openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], dir);
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n");
  // biome-ignore format: one openssl command line
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext"], dir);
  for (const f of ["ca.crt", "server.crt"]) chmodSync(join(dir, f), 0o644);
  return {
    dir,
    caCert: readFileSync(join(dir, "ca.crt"), "utf8"),
    caFile: join(dir, "ca.crt"),
    name,
    serverKey: readFileSync(join(dir, "server.key"), "utf8"),
    serverCert: readFileSync(join(dir, "server.crt"), "utf8"),
  };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** An HTTPS server on 127.0.0.1 answering every request with `body`. */
export async function httpsServer(ca: TestCa, body: string): Promise<{ port: number; close(): void }> {
  const server = createHttpsServer({ key: ca.serverKey, cert: ca.serverCert }, (_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end(body);
  });
  const port = await listen(server);
  return { port, close: () => server.close() };
}

/** An HTTP proxy on 127.0.0.1 that tunnels CONNECT to 127.0.0.1 (anything else: 403), recording each target. */
export async function connectProxy(): Promise<{ port: number; url: string; seen: string[]; close(): void }> {
  const seen: string[] = [];
  const server = createHttpServer((_req, res) => {
    res.writeHead(405);
    res.end();
  });
  server.on("connect", (req, socket, head) => {
    const target = req.url ?? "";
    seen.push(target);
    const m = /^127\.0\.0\.1:(\d+)$/.exec(target);
    if (!m) {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    const upstream = connect(Number(m[1]), "127.0.0.1", () => {
      socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on("error", () => socket.destroy());
    socket.on("error", () => upstream.destroy());
  });
  const port = await listen(server);
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
