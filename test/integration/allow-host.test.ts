/**
 * --allow-host: real clients inside (busybox wget; curl, python3 and apt from a Debian minbase
 * bundle), real HTTP and HTTPS servers started here on 127.0.0.1 under made-up names that cm's
 * proxy resolves through CM_PROXY_RESOLVE. Nothing reaches beyond the host's loopback: names and
 * addresses that are not allowed are refused by the proxy before any connection.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttp, type Server } from "node:http";
import { createServer as createHttps } from "node:https";
import { type AddressInfo, connect, createServer as createTcpServer, type Server as NetServer } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { cmAsync, fixtures, isOneLineError, sandbox, USERS, waitFor, writeProjectFile } from "../helpers/cm.ts";

const BODY = "hello from the test server\n";

function listen(server: NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** A self-signed certificate for allowed.test (the container's curl is given it as its CA). */
function certificate(dir: string): { key: string; cert: string } {
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=allowed.test",
      "-addext",
      "subjectAltName=DNS:allowed.test",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  return { key: readFileSync(join(dir, "key.pem"), "utf8"), cert: readFileSync(join(dir, "cert.pem"), "utf8") };
}

let http: Server;
let httpPort = 0;
const repo = new Map<string, Buffer>();
before(async () => {
  http = createHttp((req, res) => {
    const file = repo.get(req.url ?? "");
    if (file) return res.end(file);
    if (req.url?.startsWith("/repo/")) {
      res.writeHead(404);
      return res.end();
    }
    res.end(BODY);
  });
  httpPort = await listen(http);
});
after(() => http.close());

const resolveEnv = () => ({ CM_PROXY_RESOLVE: "allowed.test=127.0.0.1,repo.test=127.0.0.1,internal.test=127.0.0.1" });

for (const as of USERS) {
  describe(`cm run --allow-host, busybox wget (${as})`, () => {
    const sb = sandbox(as, "egress");
    test("setup", () => {
      assert.equal(sb.cm(["create", "--from", `dir:${fixtures.busybox}`]).status, 0);
    });

    test("an allowed name is reached through the proxy; other names, addresses and internal resolutions are refused and reported", async () => {
      const allow = ["--allow-host", `allowed.test:${httpPort}`, "--allow-host", `127.0.0.1:${httpPort}`];
      const script = [
        "env | grep -i _proxy= | sort",
        `wget -q -O - http://allowed.test:${httpPort}/`,
        `wget -q -O - http://other.test:${httpPort}/ && echo OTHER-REACHED`,
        `wget -q -O - http://192.0.2.1:${httpPort}/ && echo IP-REACHED`,
        `wget -q -O - http://127.0.0.2:${httpPort}/ && echo LOOPBACK-REACHED`,
        `wget -q -O - http://[::1]:${httpPort}/ && echo V6-REACHED`,
        `http_proxy= wget -q -O - http://127.0.0.1:${httpPort}/ && echo DIRECT-REACHED`,
        "true",
      ].join("\n");
      const r = await cmAsync(sb, ["run", ...allow, "--", "sh", "-c", script], resolveEnv());
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.includes(BODY), r.stdout);
      for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"])
        assert.match(r.stdout, new RegExp(`^${k}=http://127.0.0.1:3128$`, "m"));
      assert.doesNotMatch(r.stdout, /REACHED/);
      assert.match(r.stderr, new RegExp(`^cm: blocked GET other.test:${httpPort}$`, "m"));
      assert.match(r.stderr, new RegExp(`^cm: blocked GET 192.0.2.1:${httpPort}$`, "m"));
      assert.match(r.stderr, new RegExp(`^cm: blocked GET 127.0.0.2:${httpPort}$`, "m"));
      assert.match(r.stderr, new RegExp(`^cm: blocked GET \\[::1\\]:${httpPort}$`, "m"));

      // an allowed name resolving to loopback, the address not allowed: refused, with the reason
      const internal = await cmAsync(
        sb,
        ["run", "--allow-host", `internal.test:${httpPort}`, "--", "wget", "-q", "-O", "-", `http://internal.test:${httpPort}/`],
        resolveEnv(),
      );
      assert.notEqual(internal.status, 0);
      assert.match(
        internal.stderr,
        new RegExp(
          `cm: blocked GET internal.test:${httpPort} \\(resolves to 127.0.0.1, an internal address: allow it with --allow-host 127.0.0.1:${httpPort}\\)`,
        ),
      );

      const quiet = await cmAsync(
        sb,
        ["run", "-q", "--allow-host", "x.test", "--", "sh", "-c", `wget -q -O - http://other.test/; true`],
        resolveEnv(),
      );
      assert.equal(quiet.status, 0);
      assert.doesNotMatch(quiet.stderr, /blocked/);
    });

    test("detached: exec uses the same proxy, cm logs shows what was refused", async () => {
      const allow = ["--allow-host", `allowed.test:${httpPort}`, "--allow-host", `127.0.0.1:${httpPort}`];
      const started = await cmAsync(
        sb,
        ["run", "-d", ...allow, "--", "sh", "-c", "wget -q -O - http://nope.test/; sleep 30"],
        resolveEnv(),
      );
      assert.equal(started.status, 0, started.stderr);
      const id = started.stdout.trim();
      const e = await cmAsync(sb, ["exec", id, "--", "wget", "-q", "-O", "-", `http://allowed.test:${httpPort}/`]);
      assert.equal(e.status, 0, e.stderr);
      assert.equal(e.stdout, BODY);
      await waitFor("the refusal in the log", () => /cm: blocked GET nope.test:80/.test(sb.cm(["logs", id]).stdout));
      assert.equal(sb.cm(["stop", "--time", "0", id]).status, 0);
      assert.equal(sb.cm(["gc"]).status, 0);
    });

    test("SIGKILL of cm leaves the container without egress and no proxy process", async () => {
      const child = sb.spawn(
        ["run", "--allow-host", `allowed.test:${httpPort}`, "--allow-host", `127.0.0.1:${httpPort}`, "--", "sh", "-c", "echo up; sleep 60"],
        { env: resolveEnv() },
      );
      let out = "";
      child.stdout?.on("data", (d: Buffer) => {
        out += d.toString();
      });
      await waitFor("the container", () => out.includes("up"));
      const ps = JSON.parse(sb.cm(["ps", "--json"]).stdout) as { id: string }[];
      const id = ps[0]?.id as string;
      const ok = await cmAsync(sb, ["exec", id, "--", "wget", "-q", "-O", "-", `http://allowed.test:${httpPort}/`]);
      assert.equal(ok.stdout, BODY, ok.stderr);
      // the container keeps cm's stdout open: wait for cm's own end, not for its pipes
      const gone = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGKILL");
      await gone;
      const after = await cmAsync(sb, ["exec", id, "--", "wget", "-q", "-O", "-", `http://allowed.test:${httpPort}/`]);
      assert.notEqual(after.status, 0);
      assert.equal(after.stdout, "");
      // nothing of cm's is left in the container's network namespace: only its own processes
      const pgrep = spawnSync("pgrep", ["-a", "-u", String(sb.uid), "-f", "3128|proxy.sock"], { encoding: "utf8" });
      assert.equal(pgrep.stdout, "");
      assert.equal(sb.cm(["stop", "--time", "0", id]).status, 0);
      assert.equal(sb.cm(["gc"]).status, 0);
    });

    test("a host proxy in cm's environment (http_proxy): allowed traffic goes on through it, names resolved there", async () => {
      // A small host proxy on 127.0.0.1: records each request head and sends the request to the test server.
      const heads: string[] = [];
      const hostProxy = createTcpServer((c) => {
        let head = "";
        const onData = (d: Buffer) => {
          head += d.toString("latin1");
          const end = head.indexOf("\r\n\r\n");
          if (end < 0) return;
          c.off("data", onData);
          heads.push(head.slice(0, end));
          const t = connect(httpPort, "127.0.0.1", () => {
            t.write(head.replace(/^GET http:\/\/[^/]+/, "GET "));
            c.pipe(t).pipe(c);
          });
        };
        c.on("data", onData);
      });
      const hostProxyPort = await listen(hostProxy);
      try {
        // far.test resolves nowhere: only the host proxy's word gets the request through
        const r = await cmAsync(
          sb,
          ["run", "--allow-host", `far.test:${httpPort}`, "--", "wget", "-q", "-O", "-", `http://far.test:${httpPort}/`],
          {
            http_proxy: `http://127.0.0.1:${hostProxyPort}`,
            no_proxy: "localhost",
          },
        );
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, BODY);
        assert.equal(heads.length, 1);
        assert.match(heads[0] ?? "", new RegExp(`^GET http://far\\.test:${httpPort}/ HTTP/1\\.1\\r\\n`));
      } finally {
        hostProxy.close();
      }
    });

    test("cm.toml: [create] allow_hosts gives post_create the proxy; [run] allow_hosts, review and ephemeral are run's defaults", async () => {
      const file = sandbox(as, "egressfile");
      const allow = `["allowed.test:${httpPort}", "127.0.0.1:${httpPort}"]`;
      writeProjectFile(
        file,
        [
          "[create]",
          `post_create = ["wget -q -O /fetched http://allowed.test:${httpPort}/", "wget -q -O - http://other.test/ || echo refused"]`,
          `allow_hosts = ${allow}`,
          "[run]",
          `allow_hosts = ${allow}`,
          "review = true",
          "ephemeral = true",
          "",
        ].join("\n"),
      );
      const created = await cmAsync(file, ["create", "--from", `dir:${fixtures.busybox}`], resolveEnv());
      assert.equal(created.status, 0, created.stderr);
      assert.match(created.stdout + created.stderr, /^refused$/m);
      assert.match(created.stderr, /^cm: blocked GET other\.test:80$/m);
      const rootfs = join(file.env.CM_HOME as string, "egressfile", "default", "rootfs");
      assert.equal(readFileSync(join(rootfs, "fetched"), "utf8"), BODY);

      const script = `wget -q -O - http://allowed.test:${httpPort}/; echo x > /etc/from-run; echo y > /project/y.txt`;
      const r = await cmAsync(file, ["run", "--", "sh", "-c", script], resolveEnv());
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout, BODY);
      assert.match(r.stderr, /^cm: review: 1 change to \/project held back/m);
      assert.equal(existsSync(join(rootfs, "etc", "from-run")), false, "ephemeral");
      assert.equal(existsSync(join(file.project, "y.txt")), false, "reviewed");
      assert.equal(file.cm(["discard"]).status, 0);

      writeProjectFile(file, '[run]\nallow_hosts = ["ok.test", "*.com"]\n');
      const bad = file.cm(["run", "--", "true"]);
      assert.equal(bad.status, 125);
      assert.ok(isOneLineError(bad.stderr), bad.stderr);
      assert.match(bad.stderr, /cm\.toml:2: run\.allow_hosts\[1\]: value "\*\.com"/);
    });

    test("bad patterns and --network host are refused in one line", () => {
      for (const args of [
        ["--allow-host", "*.com"],
        ["--allow-host", "a.test:99999"],
        ["--allow-host", "a.test", "--network", "host"],
        ["--allow-host", "a.test", "--runtime", "runsc"],
      ]) {
        const r = sb.cm(["run", ...args, "--", "true"]);
        assert.equal(r.status, 125, args.join(" "));
        assert.ok(isOneLineError(r.stderr), r.stderr);
      }
    });
  });
}

for (const as of USERS) {
  describe(`cm run --allow-host, curl, python3 and apt (${as})`, () => {
    const sb = sandbox(as, "egressdeb");
    let https: Server;
    let httpsPort = 0;
    before(async () => {
      const tls = certificate(sb.dir);
      writeFileSync(join(sb.project, "ca.pem"), tls.cert);
      https = createHttps(tls, (_req, res) => res.end(BODY));
      httpsPort = await listen(https);
      // a local APT repository with an empty package list, served by the HTTP server
      const arch = process.arch === "arm64" ? "arm64" : "amd64";
      const packages = Buffer.alloc(0);
      const sha = createHash("sha256").update(packages).digest("hex");
      repo.set(`/repo/dists/local/main/binary-${arch}/Packages`, packages);
      repo.set(
        "/repo/dists/local/Release",
        Buffer.from(
          `Suite: local\nCodename: local\nArchitectures: ${arch}\nComponents: main\nDate: ${new Date().toUTCString()}\nSHA256:\n ${sha} 0 main/binary-${arch}/Packages\n`,
        ),
      );
      writeFileSync(join(sb.project, "local.list"), `deb [trusted=yes] http://repo.test:${httpPort}/repo local main\n`);
      mkdirSync(join(sb.dir, "unused"), { recursive: true });
    });
    after(() => https?.close());

    test("setup", () => {
      // --packages is for debian: sources; from the tarball, APT inside (the Debian archive, host network)
      assert.equal(sb.cm(["create", "--from", `tar:${fixtures.debianTar}`]).status, 0);
      const r = sb.cm(
        ["run", "--", "sh", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends curl python3-minimal >/dev/null"],
        {
          timeoutMs: 600_000,
        },
      );
      assert.equal(r.status, 0, r.stderr);
    });

    test("curl over HTTPS (CONNECT) to an allowed name; every way around the proxy fails", async () => {
      const allow = ["--allow-host", `allowed.test:${httpsPort}`, "--allow-host", `127.0.0.1:${httpsPort}`];
      const py = [
        "import socket",
        `for a in [("127.0.0.1", ${httpsPort}), ("192.0.2.1", 443)]:`,
        "    try:",
        "        socket.create_connection(a, timeout=3); print('RAW-REACHED', a)",
        "    except OSError as e: print('raw refused', a, e.errno)",
      ].join("\n");
      writeFileSync(join(sb.project, "raw.py"), py);
      const script = [
        `curl -sS --cacert /project/ca.pem https://allowed.test:${httpsPort}/`,
        `curl -sS --cacert /project/ca.pem https://evil.test:${httpsPort}/ && echo EVIL-REACHED`,
        `curl -sS -k https://192.0.2.1:${httpsPort}/ && echo IP-REACHED`,
        `curl -sS --noproxy '*' --connect-timeout 3 -k https://127.0.0.1:${httpsPort}/ && echo NOPROXY-REACHED`,
        "python3 /project/raw.py",
        "true",
      ].join("\n");
      const r = await cmAsync(sb, ["run", ...allow, "--", "sh", "-c", script], resolveEnv());
      assert.equal(r.status, 0, r.stderr);
      assert.ok(r.stdout.startsWith(BODY), r.stdout);
      assert.doesNotMatch(r.stdout, /REACHED/);
      assert.match(r.stdout, /raw refused \('127.0.0.1'/);
      assert.match(r.stdout, /raw refused \('192.0.2.1'/);
      assert.match(r.stderr, new RegExp(`^cm: blocked CONNECT evil.test:${httpsPort}$`, "m"));
      assert.match(r.stderr, new RegExp(`^cm: blocked CONNECT 192.0.2.1:${httpsPort}$`, "m"));
    });

    test("apt-get update from a local repository through the proxy", async () => {
      const r = await cmAsync(
        sb,
        [
          "run",
          "--allow-host",
          `repo.test:${httpPort}`,
          "--allow-host",
          `127.0.0.1:${httpPort}`,
          "--",
          "apt-get",
          "update",
          "-o",
          "Dir::Etc::sourcelist=/project/local.list",
          "-o",
          "Dir::Etc::sourceparts=-",
        ],
        resolveEnv(),
      );
      assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, new RegExp(`http://repo.test:${httpPort}/repo local`));
      assert.doesNotMatch(r.stdout + r.stderr, /^(Err|W):/m);
    });
  });
}
