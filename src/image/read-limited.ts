/** Reading a small HTTP body whole, with a size cap. */
import type { Readable } from "node:stream";

/** Reads a stream into one Buffer; destroys it and throws `tooBig()` past `maxBytes`. */
export async function readLimited(stream: Readable, maxBytes: number, tooBig?: () => Error): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      const err = tooBig?.() ?? new Error(`body larger than ${maxBytes} bytes`);
      stream.destroy();
      throw err;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
