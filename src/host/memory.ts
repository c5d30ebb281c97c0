/**
 * Keeping cm's resident memory flat while it streams hundreds of megabytes. Every chunk that flows
 * through (network, file, zlib) is a fresh Buffer whose memory lives outside V8's heap; V8 only
 * collects the small wrappers (and so frees that memory) when its heap or the external total has
 * grown by tens of megabytes, so RSS swings by ~64 MB above the baseline during a pull. `relieve`
 * counts streamed bytes and, every 8 MB, asks for a young-generation collection, which frees those
 * short-lived buffers at a cost of well under a millisecond (and every 64 MB a full one, a few ms).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

type Gc = (opts?: { type?: "minor" | "major"; execution?: "sync" }) => void;
let gc: Gc | null | undefined;
let pending = 0;
let sinceMajor = 0;
const EVERY = 8 * 1024 * 1024;
const MAJOR_EVERY = 64 * 1024 * 1024;

function collector(): Gc | null {
  if (gc === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as Gc;
    } catch {
      gc = null;
    }
  }
  return gc;
}

/** Counts `bytes` streamed; every few megabytes, lets go of the buffers that are done with. */
export function relieve(bytes: number): void {
  pending += bytes;
  if (pending < EVERY) return;
  pending = 0;
  sinceMajor += EVERY;
  // Unpacking many small files also leaves garbage in the old generation: now and then, a full collection.
  if (sinceMajor >= MAJOR_EVERY) {
    sinceMajor = 0;
    collector()?.({ type: "major" });
  } else collector()?.({ type: "minor" });
}
