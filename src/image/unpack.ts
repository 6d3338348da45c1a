/**
 * Unpacks one layer while it streams in: decompress (node:zlib, 1 MiB chunks) → hash (the diff
 * id) → tar-stream → LayerWriter, into a temp dir beside the target, which is renamed into
 * place only after the diff id matched and the native fixups (whiteouts, devices, xattrs) ran.
 * On any failure the temp dir is removed and nothing else was touched.
 */
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { pipeline } from "node:stream/promises";
import zlib from "node:zlib";
import createDebug from "debug";
import tar from "tar-stream";
import { isTestcellError, tcError } from "../errors";
import { layerCompression, type LayerCompression } from "./media-types";
import { LayerWriter, type FixupOp } from "./layer-writer";
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
  try {
    await fs.mkdir(temp, { mode: 0o755 });
    const writer = new LayerWriter(temp, label);
    const hasher = new HashStream();
    await extractInto(writer, [stream, ...decompressor(compression, label), hasher], options.signal);
    const diffId = hasher.digest();
    if (diffId !== options.diffId) {
      throw tcError(
        "TC_ERR_DIGEST_MISMATCH",
        `${label}: the uncompressed layer has digest ${diffId}, but the image config lists ${options.diffId}: the image is corrupt or was tampered with; push it again`,
        { context: { layer: label, expected: options.diffId, actual: diffId } },
      );
    }
    const ops = await writer.finish();
    if (ops.length > 0) await options.fixup(temp, ops);
    await writer.applyDirMetadata();
    await commitDir(temp, targetDir);
    debug("%s: %d entries, %d bytes, %d fixups", label, writer.entries, hasher.bytes, ops.length);
    return { dir: targetDir, entries: writer.entries, bytes: hasher.bytes };
  } catch (err) {
    stream.destroy();
    await removeTree(temp);
    throw classify(err, label);
  }
}

/** Feeds the streams into tar-stream and writes each entry; the first meaningful error wins. */
async function extractInto(writer: LayerWriter, streams: (Readable | Transform)[], signal?: AbortSignal): Promise<void> {
  const extract = tar.extract();
  const feeding = pipeline([...streams, extract] as unknown as NodeJS.ReadWriteStream[], signal ? { signal } : {});
  const consuming = (async () => {
    for await (const entry of extract) {
      await writer.add(entry.header, entry as unknown as Readable);
      for await (const _ of entry) void _; // drain what the writer did not read
    }
  })();
  const [fed, consumed] = await Promise.allSettled([feeding, consuming]);
  const errors = [consumed, fed].filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
  const primary = errors.find(isTestcellError) ?? (fed.status === "rejected" ? fed.reason : errors[0]);
  if (errors.length > 0) throw primary;
}

function decompressor(compression: LayerCompression, label: string): Transform[] {
  if (compression === "none") return [];
  if (compression === "gzip") return [zlib.createGunzip({ chunkSize: CHUNK })];
  const zstd = (zlib as unknown as { createZstdDecompress?: (o: object) => Transform }).createZstdDecompress;
  if (zstd) return [zstd({ chunkSize: CHUNK })];
  throw tcError("TC_ERR_LAYER_INVALID", `${label} is zstd-compressed, which needs Node.js 22.15 or newer (this is ${process.version}); use a gzip image or a newer Node`);
}

/** Passes data through while hashing it: the diff id of the uncompressed tar. */
class HashStream extends Transform {
  bytes = 0;
  private readonly hash = createHash("sha256");
  private result: string | undefined;

  constructor() {
    super({ highWaterMark: CHUNK });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  digest(): string {
    this.result ??= `sha256:${this.hash.digest("hex")}`;
    return this.result;
  }
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
  if (/Invalid tar header|Unexpected end of data|Header exceeds max size|Invalid header/i.test(String(e?.message))) {
    return tcError("TC_ERR_LAYER_INVALID", `${label} is not a valid tar archive (${e.message}): push the image again`, { cause: err });
  }
  if (typeof e?.syscall === "string" && typeof e.code === "string") {
    const hint = e.code === "ENOSPC" ? "the disk is full; free space or point TESTCELL_CACHE_DIR elsewhere" : "check that TESTCELL_CACHE_DIR is writable";
    return tcError("TC_ERR_STORE", `cannot unpack ${label} (${e.code} in ${e.syscall}): ${hint}`, { cause: err });
  }
  return err;
}
