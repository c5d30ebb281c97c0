/**
 * Random container IDs without node:crypto: loading that module costs ~10 ms of `cm run`'s
 * start-up here (measured in bench/README.md), more than everything else cm does before runc.
 * The kernel's random source gives the same quality; runc and the per-run directory (created
 * exclusively) would refuse a duplicate anyway.
 */
import { closeSync, openSync, readSync } from "node:fs";

/** A fresh container ID: 12 random hex digits, as docker shows short IDs. */
export function newContainerId(): string {
  const bytes = Buffer.alloc(6);
  const fd = openSync("/dev/urandom", "r");
  try {
    if (readSync(fd, bytes, 0, bytes.length, null) !== bytes.length) throw new Error("short read from /dev/urandom");
  } finally {
    closeSync(fd);
  }
  return bytes.toString("hex");
}
