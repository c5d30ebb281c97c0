/**
 * SHA-256 in pure JavaScript (@noble/hashes), for cm.toml's approval (store/trust.ts, loaded only
 * when a cm.toml exists). node:crypto gives the same digest but costs ~3 ms to load, and `cm run`
 * loads nothing else of it (bench/README.md). Not for modules every command loads: importing this
 * sets up the library's tables (~0.3 ms) at the start.
 */
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, utf8ToBytes } from "@noble/hashes/utils.js";

/** SHA-256 of `text`'s UTF-8 bytes as 64 lowercase hex digits: node:crypto's `createHash("sha256").update(text).digest("hex")`. */
export function sha256Hex(text: string): string {
  return bytesToHex(sha256(utf8ToBytes(text)));
}
