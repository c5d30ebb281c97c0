/** Hand-made tar archives for tests: any header a hostile archive could carry, written block by block. */
import { Header, type HeaderData } from "tar";

export interface Item extends HeaderData {
  body?: string;
}

export function tarball(items: Item[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { body, ...h } of items) {
    const data = Buffer.from(body ?? "");
    const header = new Header({ mode: 0o644, uid: 0, gid: 0, mtime: new Date(1_700_000_000_000), type: "File", ...h, size: data.length });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (data.length) {
      blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
