/**
 * How a container with `--allow-host` reaches cm's proxy: the proxy runs in cm (the foreground
 * `cm run`, the monitor of a detached run, `cm create` for post_create) and owns a listening socket
 * on 127.0.0.1:PROXY_PORT *inside the container's network namespace*. A socket belongs to the
 * namespace it was created in, whoever holds it, so no process of cm's lives in the container.
 *
 *   1. the run's spec gets an OCI `createRuntime` hook: it runs after runc has made the
 *      namespaces and before the container's process starts, with the container's state (pid) on
 *      stdin; it is a few lines of Node (HOOK_SCRIPT) that pass that state to cm over a Unix
 *      socket in the run directory (`proxy.sock`) and wait for cm's "ok";
 *   2. cm starts `nsenter -t PID -n` (rootless: `-U --preserve-credentials` as well: joining
 *      the network namespace needs the capabilities held in the container's user namespace) with
 *      a few lines of Node (LISTEN_SCRIPT) that listen on 127.0.0.1:PORT there and send the
 *      listening socket to cm over Node's IPC channel, then exit;
 *   3. cm answers "ok"; runc starts the container's process, for which the proxy already listens.
 * If cm dies (even by SIGKILL) the socket closes with it: the container is left with loopback
 * only, no egress, and no process of cm's behind. If anything fails, the hook fails and runc does
 * not start the container.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { HOOK_SOCKET } from "../core/run/proxyhook.ts";
import { CmError } from "../errors.ts";
import { requireTool } from "../host/tools.ts";

/** In the container's network namespace: listen, hand the listening socket to cm, exit. */
const LISTEN_SCRIPT = [
  'const s=require("net").createServer({pauseOnConnect:true});',
  's.on("error",e=>process.send({error:String(e.code||e.message)},()=>process.exit(1)));',
  's.listen({host:"127.0.0.1",port:Number(process.argv[1]),exclusive:true},()=>process.send("listening",s,()=>process.exit(0)));',
].join("");

export interface NetnsListener {
  /** resolves when the proxy listens inside the container (the hook has been answered) */
  ready: Promise<void>;
  /** stops waiting for the hook and closes what was opened */
  close(): void;
}

/**
 * Waits for the run's hook, then gets a listening socket on 127.0.0.1:port in the container's
 * network namespace and passes each connection to `onConnection` (a paused socket).
 * `rootless`: the container has its own user namespace, which nsenter must join too.
 */
export function serveIntoNetns(
  runDir: string,
  opts: { port: number; rootless: boolean; onConnection: (s: Socket) => void },
): NetnsListener {
  const nsenter = requireTool("nsenter");
  const sockPath = join(runDir, HOOK_SOCKET);
  let inner: Server | undefined;
  let settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    settle = { resolve, reject };
  });
  ready.catch(() => {}); // observed by the caller if it cares; the hook's failure stops runc anyway
  const ctl = createServer((conn) => {
    let text = "";
    conn.on("error", () => conn.destroy());
    conn.on("data", (d) => {
      text += d.toString();
      if (!text.includes("\n") || inner) return;
      let pid: number;
      try {
        pid = Number((JSON.parse(text.slice(0, text.indexOf("\n"))) as { pid?: unknown }).pid);
      } catch {
        pid = Number.NaN;
      }
      if (!Number.isInteger(pid) || pid <= 1) return conn.end("bad state");
      listenIn(nsenter, pid, opts.port, opts.rootless).then(
        (server) => {
          inner = server;
          server.on("connection", opts.onConnection);
          conn.end("ok");
          settle?.resolve();
        },
        (err: Error) => {
          conn.end(err.message);
          settle?.reject(err);
        },
      );
    });
  });
  ctl.on("error", (err) => settle?.reject(err));
  rmSync(sockPath, { force: true });
  ctl.listen(sockPath);
  ctl.unref();
  return {
    ready,
    close() {
      ctl.close();
      inner?.close();
      rmSync(sockPath, { force: true });
    },
  };
}

function listenIn(nsenter: string, pid: number, port: number, rootless: boolean): Promise<Server> {
  return new Promise((resolve, reject) => {
    const args = ["-t", String(pid), ...(rootless ? ["-U", "--preserve-credentials"] : []), "-n", "--"];
    const child = spawn(nsenter, [...args, process.execPath, "-e", LISTEN_SCRIPT, String(port)], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      env: {},
    });
    let stderr = "";
    child.stderr?.on("data", (d) => {
      stderr += d;
    });
    let done = false;
    child.on("message", (msg: unknown, handle: unknown) => {
      if (done) return;
      done = true;
      if (msg === "listening" && handle) return resolve(handle as Server);
      reject(
        new CmError(
          "proxy-failed",
          `cannot listen for the egress proxy inside the container: ${(msg as { error?: string }).error ?? "no socket"}`,
        ),
      );
    });
    child.on("error", (err) => {
      if (!done) reject(err);
      done = true;
    });
    child.on("close", (code) => {
      if (done) return;
      done = true;
      reject(
        new CmError(
          "proxy-failed",
          `cannot enter the container's network namespace (nsenter exit ${code}): ${stderr.trim().split("\n").pop() ?? ""}`,
        ),
      );
    });
  });
}
