/**
 * The local, content-addressed image store under `config.cacheDir`:
 *
 *   blobs/sha256/<hex>             manifests, indexes, configs, compressed layers (verified)
 *   layers/sha256/<diffid-hex>/    unpacked layers (written by unpack.ts)
 *   images/<manifest-hex>.json     ImageRecord: config digest, diff ids, parsed config
 *   refs/<sha256(key)>.json        RefRecord: reference (+ platform) → manifest digest
 *
 * Every digest is validated before it becomes a file name; every write goes to a temp name in
 * the same directory and is renamed into place; a blob appears only after its sha256 matched.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable, type TransformCallback } from "node:stream";
import { tcError } from "../errors";
import { digestHex, isDigest, sha256Digest } from "./digest";
import { acquireFileLock, tryAcquireFileLock, type FileLock, type LockOptions } from "./file-lock";
import type { ImageConfig } from "./image-config";
import type { Platform } from "./platform";
import { sweepTemps, tempName } from "./temp-files";

/** What the store knows about one pulled image manifest. */
export interface ImageRecord {
  manifestDigest: string;
  manifestMediaType: string;
  configDigest: string;
  /** Compressed layer descriptors, bottom first. */
  layers: { digest: string; mediaType: string; size: number }[];
  /** Uncompressed layer digests, bottom first (the names of `layers/sha256/*`). */
  diffIds: string[];
  platform: Platform;
  config: ImageConfig;
  created?: string;
}

/** A reference (as pulled for one platform) and the manifest it resolved to. */
export interface RefRecord {
  reference: string;
  platform: Platform;
  manifestDigest: string;
  /** The digest the tag resolved to (an index's digest for multi-platform images). */
  resolvedDigest: string;
  pulledAt: string;
  /** When a pull policy last found the tag unchanged at the registry. */
  checkedAt?: string;
}

/** A blob being written: pipe through `stream`, then `commit()` or `abort()`. */
export interface BlobWriter {
  /** Passes data through, hashes it and writes it to a temp file; errors at the end on a digest mismatch. */
  stream: Transform;
  /** Renames the verified temp file into place. */
  commit(): Promise<void>;
  /** Removes the temp file. */
  abort(): Promise<void>;
}

/** The on-disk store; all paths derive from validated digests. */
export class ContentStore {
  private prepared: Promise<void> | undefined;

  constructor(readonly root: string) {}

  /** `blobs/sha256/<hex>`. */
  blobPath(digest: string): string {
    return path.join(this.root, "blobs", "sha256", this.hex(digest));
  }

  /** `layers/sha256/<diffid-hex>`. */
  layerPath(diffId: string): string {
    return path.join(this.root, "layers", "sha256", this.hex(diffId));
  }

  /** Creates the directory layout once. */
  prepare(): Promise<void> {
    this.prepared ??= (async () => {
      for (const dir of ["blobs/sha256", "layers/sha256", "images", "refs"]) {
        await fs.mkdir(path.join(this.root, dir), { recursive: true }).catch((err: unknown) => {
          throw storeError(`cannot create ${path.join(this.root, dir)}`, err);
        });
      }
    })();
    return this.prepared;
  }

  /** Removes temp files and dirs that crashed processes left (a day old, so other pid namespaces are safe). */
  async sweep(): Promise<number> {
    let removed = 0;
    for (const dir of ["blobs/sha256", "layers/sha256", "images", "refs"]) removed += await sweepTemps(path.join(this.root, dir), 24 * 3600_000);
    return removed;
  }

  /** True when an unpacked layer for this diff id is in place. */
  async hasLayer(diffId: string): Promise<boolean> {
    return isDirectory(this.layerPath(diffId));
  }

  /** True when a verified blob is in place. */
  async hasBlob(digest: string): Promise<boolean> {
    return fs.stat(this.blobPath(digest)).then((s) => s.isFile(), () => false);
  }

  /** A stored blob's bytes, re-verified (small blobs only); undefined when absent or corrupt. */
  async readBlob(digest: string): Promise<Buffer | undefined> {
    const bytes = await fs.readFile(this.blobPath(digest)).catch(() => undefined);
    return bytes !== undefined && sha256Digest(bytes) === digest ? bytes : undefined;
  }

  /** Deletes a blob (one found damaged). */
  async removeBlob(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  /** A stored blob as a stream (a compressed layer to unpack again). */
  openBlob(digest: string): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1 << 20 });
  }

  /** Stores bytes as a blob after checking their digest. */
  async writeBlob(digest: string, bytes: Uint8Array): Promise<void> {
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw tcError("TC_ERR_DIGEST_MISMATCH", `refusing to store content with digest ${actual} as ${digest}`);
    await writeAtomic(this.blobPath(digest), bytes);
  }

  /** Starts writing a streamed blob (see BlobWriter). */
  blobWriter(digest: string, mismatch: (actual: string) => Error): BlobWriter {
    const final = this.blobPath(digest);
    const temp = tempName(final);
    const sink = new HashingFileSink(temp, digest, mismatch);
    return {
      stream: sink,
      commit: async () => {
        if (!sink.verified) throw storeError(`blob ${digest} was committed before it was verified`);
        await fs.rename(temp, final).catch((err: unknown) => {
          throw storeError(`cannot move blob into ${final}`, err);
        });
      },
      abort: () => sink.discard(),
    };
  }

  /** The record of a pulled manifest, or undefined. */
  async readImage(manifestDigest: string): Promise<ImageRecord | undefined> {
    return readJson<ImageRecord>(path.join(this.root, "images", `${this.hex(manifestDigest)}.json`));
  }

  /** Stores the record of a pulled manifest. */
  async writeImage(record: ImageRecord): Promise<void> {
    const file = path.join(this.root, "images", `${this.hex(record.manifestDigest)}.json`);
    await writeAtomic(file, JSON.stringify(record, null, 2));
  }

  /** The ref record stored under `key` (a reference plus a platform), or undefined. */
  async readRef(key: string): Promise<RefRecord | undefined> {
    return readJson<RefRecord>(this.refPath(key));
  }

  /** Points `key` at a manifest. */
  async writeRef(key: string, record: RefRecord): Promise<void> {
    await writeAtomic(this.refPath(key), JSON.stringify(record, null, 2));
  }

  /** Forgets `key`; true when it existed. */
  async removeRef(key: string): Promise<boolean> {
    return fs.rm(this.refPath(key)).then(() => true, () => false);
  }

  /** Every ref record. */
  async listRefs(): Promise<RefRecord[]> {
    const names = await fs.readdir(path.join(this.root, "refs")).catch(() => [] as string[]);
    const records = await Promise.all(names.filter((n) => n.endsWith(".json")).map((n) => readJson<RefRecord>(path.join(this.root, "refs", n))));
    return records.filter((r): r is RefRecord => r !== undefined);
  }

  /** Takes the cross-process lock of one layer (held while it is downloaded and unpacked). */
  lockLayer(diffId: string, options?: LockOptions): Promise<FileLock> {
    return acquireFileLock(`${this.layerPath(diffId)}.lock`, options);
  }

  /** Takes the lock of one layer if nobody holds it (for removing it); undefined when it is being pulled. */
  tryLockLayer(diffId: string): Promise<FileLock | undefined> {
    return tryAcquireFileLock(`${this.layerPath(diffId)}.lock`);
  }

  /** Takes the cross-process lock of one blob (held while it is downloaded). */
  lockBlob(digest: string, options?: LockOptions): Promise<FileLock> {
    return acquireFileLock(`${this.blobPath(digest)}.lock`, options);
  }

  private refPath(key: string): string {
    return path.join(this.root, "refs", `${createHash("sha256").update(key).digest("hex")}.json`);
  }

  /** The hex of a digest, after checking it is one: never a path from unchecked input. */
  private hex(digest: string): string {
    if (!isDigest(digest)) {
      throw tcError("TC_ERR_STORE", `refusing to use \`${String(digest)}\` as a file name in the image store: expected sha256:<64 lowercase hex>`);
    }
    return digestHex(digest);
  }
}

/**
 * Hashes what passes through, writes it to a temp file, and checks the digest at the end. Data
 * is passed on at once (the unpacker need not wait for the disk); positional writes run behind
 * it, bounded to MAX_IN_FLIGHT bytes, and all have landed before the stream finishes.
 */
class HashingFileSink extends Transform {
  verified = false;
  private readonly hash = createHash("sha256");
  private file: fs.FileHandle | undefined;
  private position = 0;
  private inFlight = 0;
  private failed: Error | undefined;
  private readonly writes = new Set<Promise<void>>();
  /** The held-back callback of a transform that found too much still being written. */
  private heldBack: (() => void) | undefined;

  constructor(
    private readonly temp: string,
    private readonly digest: string,
    private readonly mismatch: (actual: string) => Error,
  ) {
    super({ highWaterMark: 1 << 20 });
  }

  override _construct(callback: (error?: Error | null) => void): void {
    fs.open(this.temp, "wx", 0o644).then((f) => {
      this.file = f;
      if (this.destroyed) void this.discard(); // aborted while opening: leave no temp file behind
      callback();
    }, callback);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.failed) return callback(this.failed);
    this.hash.update(chunk);
    const write = writeAllAt(this.file!, chunk, this.position).catch((err: Error) => void (this.failed ??= err));
    this.position += chunk.length;
    this.inFlight += chunk.length;
    this.writes.add(write);
    void write.then(() => {
      this.writes.delete(write);
      this.inFlight -= chunk.length;
      if (this.inFlight <= MAX_IN_FLIGHT) this.heldBack?.();
    });
    if (this.inFlight <= MAX_IN_FLIGHT) return callback(null, chunk);
    this.heldBack = () => {
      this.heldBack = undefined;
      callback(this.failed ?? null, this.failed ? undefined : chunk);
    };
  }

  override _flush(callback: TransformCallback): void {
    const actual = `sha256:${this.hash.digest("hex")}`;
    Promise.all(this.writes)
      .then(() => {
        if (this.failed) throw this.failed;
        return this.closeFile();
      })
      .then(() => {
        if (actual !== this.digest) return callback(this.mismatch(actual));
        this.verified = true;
        callback();
      }, callback);
  }

  /** Closes and removes the temp file. */
  async discard(): Promise<void> {
    this.destroy();
    await this.closeFile().catch(() => undefined);
    await fs.rm(this.temp, { force: true });
  }

  private async closeFile(): Promise<void> {
    const f = this.file;
    this.file = undefined;
    await f?.close();
  }
}

const MAX_IN_FLIGHT = 16 << 20;

async function writeAllAt(file: fs.FileHandle, chunk: Buffer, position: number): Promise<void> {
  let offset = 0;
  while (offset < chunk.length) {
    const { bytesWritten } = await file.write(chunk, offset, chunk.length - offset, position + offset);
    offset += bytesWritten;
  }
}

/** Writes a file under a temp name and renames it into place. */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = tempName(file);
  try {
    await fs.writeFile(temp, data, { flag: "wx", mode: 0o644 });
    await fs.rename(temp, file);
  } catch (err) {
    await fs.rm(temp, { force: true });
    throw storeError(`cannot write ${file}`, err);
  }
}

async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

async function isDirectory(p: string): Promise<boolean> {
  return fs.lstat(p).then((s) => s.isDirectory(), () => false);
}

function storeError(what: string, cause?: unknown): Error {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  const hint = code === "ENOSPC" ? "the disk is full; free space or point TESTCELL_CACHE_DIR elsewhere" : "check that TESTCELL_CACHE_DIR is writable";
  return tcError("TC_ERR_STORE", `${what}${code ? ` (${code})` : ""}: ${hint}`, { cause });
}
