/**
 * docker:IMAGE and podman:IMAGE: the root filesystem of a local image, taken the way the original
 * design did: `ENGINE create` a container (never started, never pulled: --pull=never), `ENGINE
 * export` it into the safe extractor, and `ENGINE rm -f` it afterwards, whatever happened.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, constants, createReadStream, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CmError } from "../errors.ts";
import { capture, exitStatus, requireTool, stderrTail } from "../host/tools.ts";
import { type ExtractResult, extractTar } from "../tar/extract.ts";
import { xattrNote } from "../tar/xattrs.ts";
import { extractionDetail } from "../ui/progress.ts";
import type { Materialized, RootfsSource, SourceContext } from "./source.ts";

export type Engine = "docker" | "podman";

/** Image references: registry/name:tag or @digest; never an option (no leading "-"). */
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}$/;

/** The engine's own error line from its stderr (podman prints warnings first, then "Error: ..."). */
export function engineError(stderr: string): string {
  const lines = stderr
    .trim()
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const err = [...lines].reverse().find((l) => /^Error( response from daemon)?:/i.test(l)) ?? lines.at(-1) ?? "";
  return err.replace(/^Error( response from daemon)?:\s*/i, "");
}

export class EngineSource implements RootfsSource {
  readonly engine: Engine;
  readonly image: string;
  readonly description: string;

  constructor(engine: Engine, image: string) {
    if (!IMAGE.test(image)) {
      throw new CmError("bad-source", `invalid image name ${JSON.stringify(image)}`, { hint: `for example ${engine}:debian:bookworm` });
    }
    this.engine = engine;
    this.image = image;
    this.description = `${engine}:${image}`;
  }

  private hint(ctx: SourceContext, stderr: string): string {
    if (/image not known|no such image|not found/i.test(stderr)) {
      return `is the image present (${this.engine} images)? cm never pulls: ${this.engine} pull or ${this.engine} import it first`;
    }
    if (ctx.rootless && this.engine === "podman") {
      return "rootless podman needs subordinate ids (/etc/subuid) and user namespaces, and does not work on every host; run cm as root, or export the image yourself (podman export) and use --from tar:FILE";
    }
    if (this.engine === "docker") return "is the Docker engine running and the image present (docker images)? cm never pulls";
    return "is the image present (podman images)? cm never pulls";
  }

  check(): void {
    requireTool(this.engine);
  }

  async materialize(target: string, ctx: SourceContext): Promise<Materialized | undefined> {
    const bin = requireTool(this.engine);
    const name = `cm-export-${process.pid}-${randomBytes(4).toString("hex")}`;
    ctx.progress.phase(`creating a container from ${this.engine} image ${this.image}`);
    const created = capture(bin, ["create", "--pull=never", "--name", name, "--", this.image, "/cm-export-placeholder"]);
    if (created.status !== 0) {
      throw new CmError("bad-source", `${this.engine} could not create a container from ${this.image}: ${engineError(created.stderr)}`, {
        hint: this.hint(ctx, created.stderr),
      });
    }
    let note: string | undefined;
    try {
      ctx.progress.phase(`exporting and extracting ${this.description}`);
      const r = await this.export(bin, name, target, ctx);
      note = xattrNote(r.xattrs);
      if (ctx.ids) note = [note, (await import("./userns.ts")).unmappedNote(r.unmapped, ctx.ids)].filter(Boolean).join(" ") || undefined;
    } finally {
      capture(bin, ["rm", "-f", "--", name]);
    }
    return note ? { note } : undefined;
  }

  /**
   * `ENGINE export -o FIFO` into the extractor. A FIFO, not the child's stdout: Node gives children
   * a socket as stdout, and podman's export opens /dev/stdout, which fails on a socket.
   */
  private async export(bin: string, name: string, target: string, ctx: SourceContext): Promise<ExtractResult> {
    const dir = mkdtempSync(join(tmpdir(), "cm-export-"));
    const fifo = join(dir, "rootfs.tar");
    try {
      const made = capture(requireTool("mkfifo"), ["-m", "600", "--", fifo]);
      if (made.status !== 0) throw new CmError("tool-failed", `mkfifo ${fifo} failed: ${made.stderr.trim()}`);
      const child = spawn(bin, ["export", "-o", fifo, "--", name], { stdio: ["ignore", "ignore", "pipe"] });
      const tail = stderrTail(child);
      const exited = exitStatus(child);
      // If the engine fails before opening the FIFO, our reader would wait forever: open it for
      // writing ourselves, so the reader sees the end of the stream.
      void exited.then(() => {
        try {
          closeSync(openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK));
        } catch {
          // already gone
        }
      });
      let result: ExtractResult;
      try {
        const input = createReadStream(fifo, { highWaterMark: 1 << 20 });
        const what = `the ${this.engine} export of ${this.image}`;
        const onProgress = extractionDetail(ctx.progress);
        result = ctx.ids
          ? await (await import("./userns.ts")).extractInUserns(ctx.ids, input, target, { what, onProgress })
          : await extractTar(input, target, { rootless: ctx.rootless, what, onProgress });
      } catch (err) {
        // The engine would block writing to a FIFO nobody reads: end it before removing the container.
        child.kill("SIGKILL");
        const status = await exited;
        if (status > 0 && tail().trim() && !(err instanceof CmError && err.code === "unsafe-archive")) {
          throw new CmError("bad-source", `${this.engine} export of ${this.image} failed: ${engineError(tail())}`, {
            hint: this.hint(ctx, tail()),
          });
        }
        throw err;
      }
      const status = await exited;
      if (status !== 0) {
        throw new CmError(
          "bad-source",
          `${this.engine} export of ${this.image} failed: ${engineError(tail()) || `exit status ${status}`}`,
          {
            hint: this.hint(ctx, tail()),
          },
        );
      }
      return result;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
