/**
 * cm exec: a new process in a running container (runtime exec), with the rules of cm run: the
 * command is looked up first (127 not found, 126 not executable), a terminal only when stdin is one
 * (or -t / -T), signals forwarded, the exit status is the command's (128+N for signal N).
 */
import { readFileSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { isatty } from "node:tty";
import { escapeControls } from "../core/names.ts";
import { execInUserScope, runtimeKind, USER_SCOPE_ARGS } from "../core/run/runtime.ts";
import type { OciSpec } from "../core/runtime-spec/index.ts";
import { CmError } from "../errors.ts";
import { requireTool } from "../host/tools.ts";
import { FORWARDED } from "../runtime/signals.ts";
import { requireRunning, resolveContainer, runtimeOf } from "./containers.ts";
import type { Context } from "./context.ts";
import { checkStart, runtimeFailure } from "./machine.ts";
import { START_ATTEMPTS, startAttempts } from "./runexec.ts";
import { noTerminal } from "./terminal.ts";

export interface ExecOptions {
  container: string;
  command: string[];
  tty?: boolean | undefined;
}

export async function exec(ctx: Context, opts: ExecOptions): Promise<number> {
  if (opts.command.length === 0) {
    throw new CmError("usage", "exec: no command given", { hint: "cm exec CONTAINER -- COMMAND [ARG...]" });
  }
  const c = resolveContainer(ctx, opts.container, ["running"]);
  requireRunning(c);
  const spec = JSON.parse(readFileSync(join(c.dir, "config.json"), "utf8")) as OciSpec;
  // 127/126 with the cause before the runtime starts anything (core/run/startup.ts), as cm run
  checkStart(
    spec.root.path,
    spec,
    opts.command,
    {
      cwd: spec.process.cwd,
      path: spec.process.env.find((e) => e.startsWith("PATH="))?.slice(5) ?? "/usr/local/bin:/usr/bin:/bin",
      mounts: spec.mounts
        .filter((m) => m.type === "bind" && m.source)
        .map((m) => ({ destination: m.destination, source: m.source as string })),
    },
    `container ${c.record.id}`,
    false,
  );
  const tty = opts.tty ?? isatty(0);
  if (tty && !isatty(0)) throw noTerminal("exec");
  const runtime = runtimeOf(ctx, c.record);
  // crun rootless with the systemd driver: start in a scope of the user's systemd (core/run/runtime.ts)
  const wrapper = execInUserScope(runtimeKind(runtime.binary), ctx.rootless, runtime.flags)
    ? [requireTool("systemd-run"), ...USER_SCOPE_ARGS]
    : [];
  const name = basename(c.record.runtime?.binary ?? "runc");
  // runc: a pid file of this exec's own, so a failure before its process existed is known as such
  const pidFile = runtimeKind(runtime.binary) === "runc" ? join(c.dir, `exec-${process.pid}.pid`) : undefined;
  try {
    const start = () => runtime.exec(c.record.id, opts.command, tty, { forward: { signals: FORWARDED, via: "process" }, wrapper }, pidFile);
    // a start failure that passes is made again, as cm run does; only with a pid file to tell it did not start
    const { result, logAt } = await startAttempts(c.dir, runtime.binary, "the process", start, {
      say: (line) => process.stderr.write(`cm: ${escapeControls(line)}\n`),
      attempts: pidFile ? START_ATTEMPTS : 1,
    });
    // the runtime's own failure (its JSON log grew): one cm: line with its status
    const failure = result.status !== 0 ? runtimeFailure(c.dir, name, logAt, "the process") : undefined;
    if (failure) throw failure;
    return result.status;
  } finally {
    if (pidFile) rmSync(pidFile, { force: true });
  }
}
