/**
 * One pull over the network: manifest (and the platform's manifest of an index), config, and all
 * layers in parallel, each verified, then the image record and the ref written to the store.
 */
import createDebug from "debug";
import { isTestcellError, tcError } from "../errors";
import type { ContentStore, ImageRecord } from "./content-store";
import { isDigest } from "./digest";
import { parseImageConfig, type ImageConfigFile } from "./image-config";
import { LayerPuller, type LayerJob, type PullProgress } from "./layer-puller";
import { parseManifestDocument, type Descriptor, type ImageManifest, type ManifestDocument } from "./manifest";
import { MANIFEST_TYPES } from "./media-types";
import { formatPlatform, selectPlatform, type Platform } from "./platform";
import type { RegistryClient } from "./registry-client";
import type { Fixup } from "./unpack";

const debug = createDebug("testcell:pull");
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** One pull: where from, what for. */
export interface Pull {
  client: RegistryClient;
  /** Repository path on the registry contacted. */
  repository: string;
  /** Tag or digest asked for. */
  reference: string;
  /** Canonical image reference, for messages and the ref record. */
  image: string;
  /** The store key of the ref record (reference + platform). */
  key: string;
  platform: Platform;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: PullProgress) => void) | undefined;
}

/** Pulls images into a store; concurrent pulls of one layer in this process share the work. */
export class ImagePuller {
  private readonly layers = new LayerPuller();

  constructor(
    private readonly store: ContentStore,
    private readonly fixup: Fixup,
  ) {}

  /** Pulls what the store lacks and returns the image record written for it. */
  async pull(pull: Pull): Promise<ImageRecord> {
    const { image, platform } = pull;
    const { resolvedDigest, manifestDigest, manifest } = await this.resolveManifest(pull);
    const configFile = parseImageConfig(await this.configBlob(pull, manifest), image);
    if (configFile.diffIds.length !== manifest.layers.length) {
      throw tcError(
        "TC_ERR_MANIFEST_INVALID",
        `image ${image}: the manifest lists ${manifest.layers.length} layers but the config has ${configFile.diffIds.length} diff ids: the image is broken; rebuild it`,
      );
    }
    if (configFile.architecture && configFile.architecture !== platform.architecture) {
      debug("warning: %s is built for %s/%s, this is %s", image, configFile.os, configFile.architecture, formatPlatform(platform));
    }
    await this.pullLayers(pull, manifest, configFile.diffIds);
    const record = imageRecord(manifestDigest, manifest, configFile);
    await this.store.writeImage(record);
    await this.store.writeRef(pull.key, { reference: image, platform, manifestDigest, resolvedDigest, pulledAt: new Date().toISOString() });
    return record;
  }

  /** The tag's (or digest's) manifest; for an index, the manifest of the wanted platform. */
  private async resolveManifest(pull: Pull): Promise<{ resolvedDigest: string; manifestDigest: string; manifest: ImageManifest }> {
    const top = await this.manifest(pull, await this.headTag(pull), undefined);
    if (top.doc.kind === "manifest") return { resolvedDigest: top.digest, manifestDigest: top.digest, manifest: top.doc };
    const chosen = selectPlatform(top.doc, pull.platform, pull.image);
    if (!MANIFEST_TYPES.includes(chosen.mediaType)) {
      throw tcError("TC_ERR_MANIFEST_INVALID", `image ${pull.image}: the index entry for ${formatPlatform(pull.platform)} is a \`${chosen.mediaType}\`, not an image manifest`);
    }
    const picked = await this.manifest(pull, chosen.digest, chosen.mediaType);
    if (picked.doc.kind !== "manifest") throw tcError("TC_ERR_MANIFEST_INVALID", `image ${pull.image}: an index points at another index, which testcell does not follow`);
    return { resolvedDigest: top.digest, manifestDigest: picked.digest, manifest: picked.doc };
  }

  /**
   * All layers at once. The first failure cancels the others, and the pull rejects only once
   * every layer has settled, so nothing is still writing to the store after it returns.
   */
  private async pullLayers(pull: Pull, manifest: ImageManifest, diffIds: string[]): Promise<void> {
    const cancel = new AbortController();
    const unlink = linkAbort(pull.signal, cancel);
    let first: { error: unknown } | undefined;
    const jobs = manifest.layers.map((layer, i) =>
      this.layers.ensure(this.layerJob(pull, layer, diffIds[i]!, cancel.signal)).catch((error: unknown) => {
        first ??= { error };
        cancel.abort();
      }),
    );
    await Promise.all(jobs);
    unlink();
    if (first) throw first.error;
  }

  private layerJob(pull: Pull, layer: Descriptor, diffId: string, signal: AbortSignal): LayerJob {
    return {
      store: this.store,
      client: pull.client,
      fixup: this.fixup,
      repository: pull.repository,
      image: pull.image,
      layer,
      diffId,
      signal,
      ...(pull.onProgress ? { onProgress: pull.onProgress } : {}),
    };
  }

  /**
   * A tag is HEADed first (as containerd resolves): its digest then names the manifest, which
   * the store may already hold (another tag, a removed ref), saving the GET that Docker Hub
   * counts against its pull limit. Registries that refuse HEAD or send no digest get the GET.
   */
  private async headTag(pull: Pull): Promise<string> {
    if (isDigest(pull.reference)) return pull.reference;
    try {
      return (await pull.client.headManifest(pull.repository, pull.reference, { image: pull.image, signal: pull.signal })) ?? pull.reference;
    } catch (err) {
      // A registry that is down or rate-limiting (after the retries) gets no GET on top. Other
      // refusals (401, 403, 404, 405) are explained by the GET's body, in the registry's own words.
      const status = isTestcellError(err) ? err.context.status : undefined;
      if (pull.signal?.aborted || typeof status !== "number" || status === 429 || status >= 500) throw err;
      return pull.reference;
    }
  }

  /** A manifest by tag or digest: from the store when pinned by a digest we hold, else fetched and stored. */
  private async manifest(pull: Pull, reference: string, mediaType: string | undefined): Promise<{ digest: string; doc: ManifestDocument }> {
    if (isDigest(reference)) {
      const local = await this.store.readBlob(reference);
      if (local) return { digest: reference, doc: parseManifestDocument(local, mediaType, pull.image) };
    }
    const fetched = await pull.client.getManifest(pull.repository, reference, { image: pull.image, signal: pull.signal });
    const doc = parseManifestDocument(fetched.bytes, fetched.contentType, pull.image);
    await this.store.writeBlob(fetched.digest, fetched.bytes);
    return { digest: fetched.digest, doc };
  }

  /**
   * The config blob, from the store or the registry (verified either way). Fetched under the
   * blob's cross-process lock, so N processes pulling one image download it once.
   */
  private async configBlob(pull: Pull, manifest: ImageManifest): Promise<Buffer> {
    const digest = manifest.config.digest;
    const local = await this.store.readBlob(digest);
    if (local) return local;
    const lock = await this.store.lockBlob(digest, { signal: pull.signal });
    try {
      const meanwhile = await this.store.readBlob(digest);
      if (meanwhile) return meanwhile;
      const bytes = await pull.client.getBlobBytes(pull.repository, digest, MAX_CONFIG_BYTES, { image: pull.image, signal: pull.signal });
      await this.store.writeBlob(digest, bytes);
      return bytes;
    } finally {
      await lock.release();
    }
  }
}

function imageRecord(manifestDigest: string, manifest: ImageManifest, configFile: ImageConfigFile): ImageRecord {
  const { os, architecture, variant } = configFile;
  return {
    manifestDigest,
    manifestMediaType: manifest.mediaType,
    configDigest: manifest.config.digest,
    layers: manifest.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
    diffIds: configFile.diffIds,
    platform: { os, architecture, ...(variant ? { variant } : {}) },
    config: configFile.config,
    ...(configFile.created ? { created: configFile.created } : {}),
  };
}

/** Aborts `controller` when `parent` aborts; returns the unlinker. */
function linkAbort(parent: AbortSignal | undefined, controller: AbortController): () => void {
  if (!parent) return () => undefined;
  if (parent.aborted) controller.abort(parent.reason);
  const onAbort = (): void => controller.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return () => parent.removeEventListener("abort", onAbort);
}
