/**
 * Unpacks one layer while it streams in: decompress (node:zlib on the thread pool, 1 MiB
 * chunks) → one sink on the main thread that hashes the tar (the diff id), parses it
 * (TarReader) and writes each entry (LayerWriter, synchronous syscalls), into a temp dir beside
 * the target. The dir is renamed into place only after the diff id matched and the native
 * fixups (whiteouts, devices, xattrs) ran. On any failure the temp dir is removed and nothing
 * else was touched.
 */
import { createHash, type Hash } from "node:crypto";
import fs from "node:fs/promises";
import { Writable, type Readable, type Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import createDebug from "debug";
import { isTestcellError, tcError } from "../errors";
import { layerCompression, type LayerCompression } from "./media-types";
import { LayerWriter, type FixupOp } from "./layer-writer";
import { TarFormatError, TarReader } from "./tar-reader";
import { removeTree, tempName } from "./temp-files";

export type { FixupOp } from "./layer-writer";

const debug = createDebug("testcell:pull");
const CHUNK = 1 << 20;

/** Creates what Node cannot (see FixupOp) inside `layerDir`; provided by the runtime's native helper. */
export type Fixup = (layerDir: string, ops: FixupOp[]) => Promise<void>;

export interface UnpackOptions {
  fixup: Fixup;
  /** The expected sha256 of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** For messages: `layer sha256:… of image …`. */
  label?: string;
  signal?: AbortSignal;
}

export interface UnpackResult {
  dir: string;
  entries: number;
  /** Uncompressed size. */
  bytes: number;
}

/** Unpacks a layer stream into `targetDir` (atomically: all or nothing); see the file comment. */
export async function unpackLayer(stream: Readable, mediaType: string, targetDir: string, options: UnpackOptions): Promise<UnpackResult> {
  const label = options.label ?? `layer ${options.diffId}`;
  const compression = layerCompression(mediaType);
  if (compression === undefined) {
    stream.destroy();
    throw tcError("TC_ERR_LAYER_INVALID", `${label} has media type \`${mediaType}\`, which testcell cannot unpack`);
  }
  const temp = tempName(targetDir);
  const started = performance.now();
  let writer: LayerWriter | undefined;
  try {
    await fs.mkdir(temp, { mode: 0o755 });
    writer = new LayerWriter(temp, label);
    const sink = new LayerSink(writer);
    await pipeline([stream, ...decompressor(compression, label), sink] as unknown as NodeJS.ReadWriteStream[], options.signal ? { signal: options.signal } : {});
    const diffId = sink.digest();
    if (diffId !== options.diffId) {
      throw tcError(
        "TC_ERR_DIGEST_MISMATCH",
        `${label}: the uncompressed layer has digest ${diffId}, but the image config lists ${options.diffId}: the image is corrupt or was tampered with; push it again`,
        { context: { layer: label, expected: options.diffId, actual: diffId } },
      );
    }
    const streamed = performance.now();
    const ops = writer.finish();
    if (ops.length > 0) await options.fixup(temp, ops);
    writer.applyDirMetadata();
    await commitDir(temp, targetDir);
    const ms = (t: number): string => (t - started).toFixed(0);
    debug("%s: %d entries, %d bytes; streamed in %s ms (%s ms writing), %d fixups, done at %s ms", label, writer.entries, sink.bytes, ms(streamed), sink.busyMs.toFixed(0), ops.length, ms(performance.now()));
    return { dir: targetDir, entries: writer.entries, bytes: sink.bytes };
  } catch (err) {
    stream.destroy();
    try {
      writer?.close();
    } catch {
      // the primary error wins; the dir is removed below either way
    }
    await removeTree(temp);
    throw classify(err, label);
  }
}

/** Hashes the tar (the diff id), parses it and writes the entries, all synchronously per chunk. */
class LayerSink extends Writable {
  bytes = 0;
  /** Time spent hashing, parsing and writing (the rest of the stream time is waiting for data). */
  busyMs = 0;
  private readonly hash: Hash = createHash("sha256");
  private readonly reader: TarReader;
  private result: string | undefined;

  constructor(writer: LayerWriter) {
    super({ highWaterMark: CHUNK });
    this.reader = new TarReader(writer);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    // Deferred, so that the inflater's callback (which called us) returns first and queues its
    // next chunk on the thread pool: inflating and writing then overlap on two cores.
    setImmediate(() => callback(this.destroyed ? null : this.consume(chunk)));
  }

  private consume(chunk: Buffer): Error | null {
    const t = performance.now();
    try {
      this.hash.update(chunk);
      this.bytes += chunk.length;
      this.reader.write(chunk);
      return null;
    } catch (err) {
      return err as Error;
    } finally {
      this.busyMs += performance.now() - t;
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    try {
      this.reader.end();
    } catch (err) {
      return callback(err as Error);
    }
    callback();
  }

  digest(): string {
    this.result ??= `sha256:${this.hash.digest("hex")}`;
    return this.result;
  }
}

function decompressor(compression: LayerCompression, label: string): Transform[] {
  if (compression === "none") return [];
  if (compression === "gzip") return [zlib.createGunzip({ chunkSize: CHUNK })];
  const zstd = (zlib as unknown as { createZstdDecompress?: (o: object) => Transform }).createZstdDecompress;
  if (zstd) return [zstd({ chunkSize: CHUNK })];
  throw tcError("TC_ERR_LAYER_INVALID", `${label} is zstd-compressed, which needs Node.js 22.15 or newer (this is ${process.version}); use a gzip image or a newer Node`);
}

/** Renames the finished temp dir into place; if another process won the race, keeps theirs. */
async function commitDir(temp: string, target: string): Promise<void> {
  try {
    await fs.rename(temp, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOTEMPTY" && code !== "EEXIST") throw err;
    debug("%s appeared meanwhile; keeping it", target);
    await removeTree(temp);
  }
}

/** Decompression and tar errors are a malformed layer; disk errors are the store's; others pass. */
function classify(err: unknown, label: string): unknown {
  if (isTestcellError(err)) return err;
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === "string" && e.code.startsWith("Z_")) {
    return tcError("TC_ERR_LAYER_INVALID", `${label} is not valid compressed data (${e.message}): the blob is truncated or corrupt; push the image again`, { cause: err });
  }
  if (err instanceof TarFormatError) {
    return tcError("TC_ERR_LAYER_INVALID", `${label} is not a valid tar archive (${e.message}): push the image again`, { cause: err });
  }
  if (typeof e?.syscall === "string" && typeof e.code === "string") {
    const hint = e.code === "ENOSPC" ? "the disk is full; free space or point TESTCELL_CACHE_DIR elsewhere" : "check that TESTCELL_CACHE_DIR is writable";
    return tcError("TC_ERR_STORE", `cannot unpack ${label} (${e.code} in ${e.syscall}): ${hint}`, { cause: err });
  }
  return err;
}

