/**
 * Gets one layer into `layers/sha256/<diffid>`: from the local blob when it is there, else
 * downloading, verifying and unpacking in one stream. A cross-process lock per layer makes N
 * workers pulling the same image download each layer once; within a process, concurrent
 * requests for the same layer share one promise.
 */
import diagnostics_channel from "node:diagnostics_channel";
import { pipeline, Transform, type TransformCallback } from "node:stream";
import createDebug from "debug";
import { isTestcellError, tcError } from "../errors";
import type { ContentStore } from "./content-store";
import { shortDigest } from "./digest";
import type { Descriptor } from "./manifest";
import type { RegistryClient } from "./registry-client";
import { openResumableBlob } from "./blob-stream";
import { isRetryableNetworkError } from "./registry-errors";
import { unpackLayer, type Fixup } from "./unpack";

const debug = createDebug("testcell:pull");

/** Progress of one layer of one pull. */
export interface PullProgress {
  image: string;
  /** The layer's (compressed) digest. */
  layer: string;
  status: "cached" | "waiting" | "downloading" | "unpacked";
  receivedBytes: number;
  totalBytes: number;
}

/** Everything one layer pull needs. */
export interface LayerJob {
  store: ContentStore;
  client: RegistryClient;
  fixup: Fixup;
  repository: string;
  image: string;
  layer: Descriptor;
  diffId: string;
  signal?: AbortSignal;
  onProgress?: (p: PullProgress) => void;
}

/** Deduplicates concurrent pulls of one layer within this process. */
export class LayerPuller {
  private readonly inflight = new Map<string, { promise: Promise<string>; signal: AbortSignal | undefined }>();

  /** The unpacked layer dir for `job.diffId`, pulling it when absent. */
  async ensure(job: LayerJob): Promise<string> {
    if (await job.store.hasLayer(job.diffId)) {
      report(job, "cached", job.layer.size);
      return job.store.layerPath(job.diffId);
    }
    let pending = this.inflight.get(job.diffId);
    if (!pending) {
      const promise = pullLocked(job).finally(() => this.inflight.delete(job.diffId));
      pending = { promise, signal: job.signal };
      this.inflight.set(job.diffId, pending);
    }
    try {
      return await pending.promise;
    } catch (err) {
      // The pull we joined was cancelled by its owner, not by us: do it ourselves.
      if (pending.signal?.aborted && !job.signal?.aborted) return this.ensure(job);
      throw err;
    }
  }
}

async function pullLocked(job: LayerJob): Promise<string> {
  const { store, diffId } = job;
  const lock = await store.lockLayer(diffId, {
    signal: job.signal,
    onWait: (pid) => {
      debug("layer %s: waiting for process %s, which is pulling it", shortDigest(diffId), pid ?? "?");
      report(job, "waiting", 0);
    },
  });
  try {
    if (await store.hasLayer(diffId)) {
      report(job, "cached", job.layer.size);
    } else {
      await withOneRetry(job, () => fetchAndUnpack(job));
      report(job, "unpacked", job.layer.size);
    }
    return store.layerPath(diffId);
  } finally {
    await lock.release();
  }
}

/** A connection dropped mid-layer restarts that layer once (the temp dir is gone by then). */
async function withOneRetry(job: LayerJob, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (job.signal?.aborted || !isRetryableNetworkError(err)) throw err;
    debug("layer %s: %s mid-download, starting it again", shortDigest(job.layer.digest), (err as Error).message);
    await run();
  }
}

async function fetchAndUnpack(job: LayerJob): Promise<void> {
  const { store, layer, image } = job;
  const label = `layer ${shortDigest(layer.digest)} of image ${image}`;
  const options = { fixup: job.fixup, diffId: job.diffId, label, signal: job.signal };
  if (await store.hasBlob(layer.digest)) {
    try {
      await unpackLayer(store.openBlob(layer.digest), layer.mediaType, store.layerPath(job.diffId), options);
      return;
    } catch (err) {
      // A stored blob that no longer unpacks to its diff id was damaged on disk: fetch it again.
      if (!isTestcellError(err) || (err.code !== "TC_ERR_DIGEST_MISMATCH" && err.code !== "TC_ERR_LAYER_INVALID")) throw err;
      debug("layer %s: stored blob is damaged (%s); downloading it again", shortDigest(layer.digest), err.code);
      await store.removeBlob(layer.digest);
    }
  }
  const { body, size } = await openResumableBlob(job.client, job.repository, layer.digest, { image, signal: job.signal });
  const host = job.client.endpoint.host;
  const writer = store.blobWriter(layer.digest, (actual) =>
    tcError(
      "TC_ERR_DIGEST_MISMATCH",
      `layer ${layer.digest} of image ${image} from registry ${host} has digest ${actual}: the registry served wrong content; nothing was stored. Push the image again or check any proxy in between`,
      { context: { image, registry: host, expected: layer.digest, actual } },
    ),
  );
  const counter = new ByteCounter((n) => report(job, "downloading", n, size));
  const source = pipeline(body, counter, writer.stream, () => undefined);
  try {
    await unpackLayer(source, layer.mediaType, store.layerPath(job.diffId), options);
    await writer.commit();
  } catch (err) {
    await writer.abort();
    throw err;
  }
}

/** Progress of every pull in this process, for tools that draw it without holding the service (node:diagnostics_channel). */
export const pullProgressChannel = diagnostics_channel.channel("testcell:pull:layer");

function report(job: LayerJob, status: PullProgress["status"], received: number, total = job.layer.size): void {
  if (!job.onProgress && !pullProgressChannel.hasSubscribers) return;
  const progress: PullProgress = { image: job.image, layer: job.layer.digest, status, receivedBytes: received, totalBytes: total };
  job.onProgress?.(progress);
  if (pullProgressChannel.hasSubscribers) pullProgressChannel.publish(progress);
}

/** Counts bytes as they pass, for progress reports. */
class ByteCounter extends Transform {
  private total = 0;

  constructor(private readonly onBytes: (total: number) => void) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    this.onBytes(this.total);
    callback(null, chunk);
  }
}
