/**
 * A blob download that survives dropped and stalled connections: when the body breaks off (a
 * reset, a closed socket, or no bytes for the stall timeout), it is requested again from the
 * byte where it stopped (`Range: bytes=<received>-`, as containerd's httpReadSeeker does), and
 * the stream goes on as if nothing happened. A server that ignores Range (200) is read from the
 * start with the bytes already delivered skipped. The reader still verifies the digest.
 */
import { Readable } from "node:stream";
import createDebug from "debug";
import { shortDigest } from "./digest";
import type { CallOptions, RegistryClient } from "./registry-client";
import { isRetryableNetworkError } from "./registry-errors";

const debug = createDebug("testcell:pull");

export interface ResumableBlob {
  body: Readable;
  /** Content-Length of the first response, when sent. */
  size: number | undefined;
}

export interface ResumeOptions extends CallOptions {
  /** Called before each resumption, with the offset it resumes from (for progress and tests). */
  onResume?: (offset: number, cause: unknown) => void;
}

/** Opens a blob; see the file comment. Gives up after `client.retry.retries` breaks in a row without progress. */
export async function openResumableBlob(client: RegistryClient, repository: string, digest: string, options: ResumeOptions = {}): Promise<ResumableBlob> {
  const first = await client.getBlob(repository, digest, options);
  let received = 0;
  async function* chunks(): AsyncGenerator<Buffer> {
    let current: { body: Readable; skip: number } = { body: first.body, skip: 0 };
    let failures = 0;
    try {
      for (;;) {
        try {
          for await (const chunk of current.body as AsyncIterable<Buffer>) {
            let data = chunk;
            if (current.skip > 0) {
              const dropped = Math.min(current.skip, data.length);
              current.skip -= dropped;
              data = data.subarray(dropped);
              if (data.length === 0) continue;
            }
            received += data.length;
            failures = 0;
            yield data;
          }
          return;
        } catch (err) {
          current.body.destroy();
          if (options.signal?.aborted || !isRetryableNetworkError(err) || ++failures > client.retry.retries) throw err;
          debug("blob %s: %s after %d bytes; resuming from there", shortDigest(digest), (err as Error).message, received);
          options.onResume?.(received, err);
          const next = await client.getBlob(repository, digest, { ...options, offset: received });
          current = { body: next.body, skip: received - next.start };
        }
      }
    } finally {
      // also reached when the consumer stops early (destroy): never leave a socket open
      current.body.destroy();
    }
  }
  return { body: Readable.from(chunks(), { objectMode: false, highWaterMark: 1 << 20 }), size: first.size };
}
