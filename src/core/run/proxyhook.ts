/**
 * The createRuntime hook of a run with --allow-host (see proxy/netns.ts). Pure; kept apart, with
 * no imports but node:path, because `cm run` builds it on its start-up path.
 */
import { join } from "node:path";

/** The socket in the run directory the hook talks to. */
export const HOOK_SOCKET = "proxy.sock";

const HOOK_TIMEOUT_S = 30;

/**
 * The createRuntime hook: state JSON from stdin to the socket argv[1], exit 0 when cm answers "ok".
 * `node -e` with no module loaded: ~20 ms.
 */
const HOOK_SCRIPT = [
  'const c=require("net").connect(process.argv[1]);let b="";',
  'c.on("data",d=>{b+=d});c.on("end",()=>process.exit(b.startsWith("ok")?0:(process.stderr.write("cm: "+(b||"egress proxy not ready")+"\\n"),1)));',
  'c.on("error",e=>{process.stderr.write("cm: egress proxy unreachable: "+e.code+"\\n");process.exit(1)});',
  'process.stdin.on("data",d=>c.write(d));process.stdin.on("end",()=>c.write("\\n"));',
].join("");

/** The OCI hook entry for a run directory (spec `hooks.createRuntime`), run by `node` (cm's own Node binary). */
export function proxyHook(runDir: string, node: string): { path: string; args: string[]; timeout: number } {
  return { path: node, args: [node, "-e", HOOK_SCRIPT, join(runDir, HOOK_SOCKET)], timeout: HOOK_TIMEOUT_S };
}
