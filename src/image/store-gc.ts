/**
 * Garbage collection of the image store: image records, blobs and unpacked layers that no ref
 * reaches any more (after `ImageService.remove`, or a tag that moved) are deleted. A pull in
 * progress writes its blobs and layers before its ref, so entries younger than `minAgeMs` and
 * layers whose lock a live process holds are kept; layers a caller says are in use (a running
 * container's lower dirs) are kept too.
 */
import fs from "node:fs/promises";
import path from "node:path";
import createDebug from "debug";
import type { ContentStore, ImageRecord } from "./content-store";
import { isDigest } from "./digest";
import { removeTree } from "./temp-files";

const debug = createDebug("testcell:store");
const HEX = /^[a-f0-9]{64}$/;

export interface PruneOptions {
  /** Keep unreferenced entries younger than this (a pull may be writing them); default 10 minutes. */
  minAgeMs?: number;
  /** Keep a layer dir that is in use although no ref reaches it (e.g. by a running container). */
  inUse?: (layerDir: string) => boolean;
}

export interface PruneResult {
  images: number;
  blobs: number;
  layers: number;
  /** Bytes of blobs deleted (unpacked layer sizes are not counted). */
  blobBytes: number;
}

/** Deletes what no ref reaches; see the file comment. */
export async function pruneStore(store: ContentStore, options: PruneOptions = {}): Promise<PruneResult> {
  const minAgeMs = options.minAgeMs ?? 10 * 60_000;
  const live = await liveSet(store);
  const result: PruneResult = { images: 0, blobs: 0, layers: 0, blobBytes: 0 };
  const old = async (p: string): Promise<boolean> => {
    const st = await fs.lstat(p).catch(() => undefined);
    return st !== undefined && Date.now() - Math.max(st.mtimeMs, st.ctimeMs) >= minAgeMs;
  };

  for (const name of await names(path.join(store.root, "images"))) {
    const hex = name.replace(/\.json$/, "");
    if (!HEX.test(hex) || !name.endsWith(".json") || live.images.has(`sha256:${hex}`)) continue;
    const file = path.join(store.root, "images", name);
    if (!(await old(file))) continue;
    await fs.rm(file, { force: true });
    result.images++;
  }
  for (const hex of await names(path.join(store.root, "blobs", "sha256"))) {
    const digest = `sha256:${hex}`;
    if (!HEX.test(hex) || live.blobs.has(digest)) continue;
    const file = store.blobPath(digest);
    const st = await fs.lstat(file).catch(() => undefined);
    if (!st || !(await old(file))) continue;
    await fs.rm(file, { force: true });
    result.blobs++;
    result.blobBytes += st.size;
  }
  for (const hex of await names(path.join(store.root, "layers", "sha256"))) {
    const diffId = `sha256:${hex}`;
    if (!HEX.test(hex) || live.layers.has(diffId)) continue;
    const dir = store.layerPath(diffId);
    if (options.inUse?.(dir) || !(await old(dir))) continue;
    const lock = await store.tryLockLayer(diffId);
    if (!lock) continue; // being pulled right now
    try {
      await removeTree(dir);
      result.layers++;
    } finally {
      await lock.release();
    }
  }
  debug("pruned %o", result);
  return result;
}

/** Everything some ref reaches: its manifest (and index), the image record, config, layer blobs and layer dirs. */
async function liveSet(store: ContentStore): Promise<{ images: Set<string>; blobs: Set<string>; layers: Set<string> }> {
  const images = new Set<string>();
  const blobs = new Set<string>();
  const layers = new Set<string>();
  for (const ref of await store.listRefs()) {
    for (const d of [ref.manifestDigest, ref.resolvedDigest]) if (isDigest(d)) blobs.add(d);
    if (!isDigest(ref.manifestDigest)) continue;
    images.add(ref.manifestDigest);
    const record: ImageRecord | undefined = await store.readImage(ref.manifestDigest);
    if (!record) continue;
    if (isDigest(record.configDigest)) blobs.add(record.configDigest);
    for (const l of record.layers) if (isDigest(l.digest)) blobs.add(l.digest);
    for (const d of record.diffIds) if (isDigest(d)) layers.add(d);
  }
  return { images, blobs, layers };
}

async function names(dir: string): Promise<string[]> {
  return fs.readdir(dir).catch(() => [] as string[]);
}
