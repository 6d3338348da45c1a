/**
 * The image side of `start()`: resolve a reference, pull what is missing (manifest, config,
 * layers in parallel), verify everything, and hand the runtime the unpacked layer dirs. With
 * pullPolicy "missing" (the default) an image already in the store costs no network request.
 */
import createDebug from "debug";
import { Agent, type Dispatcher } from "undici";
import type { Config } from "../config";
import { isTestcellError, tcError, type TestcellError } from "../errors";
import { ContentStore, type ImageRecord } from "./content-store";
import { isDigest } from "./digest";
import { parseImageConfig, type ImageConfig, type ImageConfigFile } from "./image-config";
import { LayerPuller, type LayerJob, type PullProgress } from "./layer-puller";
import { parseManifestDocument, type Descriptor, type ImageManifest, type ManifestDocument } from "./manifest";
import { MANIFEST_TYPES } from "./media-types";
import { formatPlatform, hostPlatform, parsePlatform, selectPlatform, type Platform } from "./platform";
import { parseImageReference, resolveRegistryHost, type ImageReference, type RegistryEndpoint } from "./reference";
import type { RegistryCredentials } from "./registry-auth";
import { RegistryClient, type RetryPolicy } from "./registry-client";
import { isRetryableNetworkError, unreachableError } from "./registry-errors";
import type { Fixup } from "./unpack";

export type { PullProgress } from "./layer-puller";

const debug = createDebug("testcell:pull");
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export type PullPolicy = "missing" | "always";

/** What the runtime needs to start a container of an image. */
export interface ResolvedImage {
  /** Canonical reference: `docker.io/library/redis:7`. */
  reference: string;
  manifestDigest: string;
  configDigest: string;
  /** The image config's `config` object (Env, Entrypoint, Cmd, WorkingDir, User, ...). */
  config: ImageConfig;
  /** Absolute unpacked layer dirs, bottom layer first. */
  layerDirs: string[];
}

export interface EnsureOptions {
  /** "missing" (default): use the store when the image is there; "always": ask the registry. */
  pullPolicy?: PullPolicy;
  /** `linux/arm64/v8` or a Platform; defaults to this machine's. */
  platform?: Platform | string;
  signal?: AbortSignal;
  onProgress?: (progress: PullProgress) => void;
}

export interface ImageServiceOptions {
  config: Pick<Config, "cacheDir" | "registryMirror" | "insecureRegistries" | "hubImageNamePrefix">;
  /** Creates whiteouts, devices and xattrs in unpacked layers (the native helper's `fixup` mode). */
  fixup: Fixup;
  /** undici dispatcher for all registry traffic (a ProxyAgent, a MockAgent, ...). */
  dispatcher?: Dispatcher;
  /** Credentials by registry: `docker.io` for Docker Hub, else the host contacted (mirror or registry). */
  credentials?: (registry: string) => RegistryCredentials | undefined;
  retry?: Partial<RetryPolicy>;
}

/** An image in the store, as `list()` reports it. */
export interface StoredImage {
  reference: string;
  platform: string;
  manifestDigest: string;
  configDigest: string;
  /** Compressed size of the layers. */
  size: number;
  created?: string;
  pulledAt: string;
}

/** Pulls, verifies, unpacks and caches images. */
export class ImageService {
  readonly store: ContentStore;
  private readonly options: ImageServiceOptions;
  private readonly layers = new LayerPuller();
  private readonly clients = new Map<string, RegistryClient>();
  private ownDispatcher: Agent | undefined;
  private prepared: Promise<void> | undefined;

  constructor(options: ImageServiceOptions) {
    this.options = options;
    this.store = new ContentStore(options.config.cacheDir);
  }

  /** Makes an image available locally and returns what the runtime needs to run it. */
  async ensure(refString: string, options: EnsureOptions = {}): Promise<ResolvedImage> {
    const ref = parseImageReference(refString);
    const platform = typeof options.platform === "string" ? parsePlatform(options.platform) : (options.platform ?? hostPlatform());
    const key = `${ref.toString()} ${formatPlatform(platform)}`;
    const policy = options.pullPolicy ?? "missing";
    if (policy !== "missing" && policy !== "always") {
      throw tcError("TC_ERR_INVALID_ARGUMENT", `pullPolicy: expected "missing" or "always", got \`${String(policy)}\``);
    }
    if (policy === "missing") {
      const cached = await this.fromStore(ref, key);
      if (cached) return cached;
    }
    try {
      options.signal?.throwIfAborted();
      return await this.pull(ref, key, platform, options);
    } catch (err) {
      throw this.finalError(err, ref, options.signal);
    }
  }

  /** The images in the store. */
  async list(): Promise<StoredImage[]> {
    const out: StoredImage[] = [];
    for (const ref of await this.store.listRefs()) {
      const image = await this.store.readImage(ref.manifestDigest);
      if (!image) continue;
      out.push({
        reference: ref.reference,
        platform: formatPlatform(ref.platform),
        manifestDigest: ref.manifestDigest,
        configDigest: image.configDigest,
        size: image.layers.reduce((n, l) => n + l.size, 0),
        ...(image.created ? { created: image.created } : {}),
        pulledAt: ref.pulledAt,
      });
    }
    return out;
  }

  /** Forgets a reference (all platforms unless one is given); layers stay until pruned. */
  async remove(refString: string, options: { platform?: Platform | string } = {}): Promise<number> {
    const reference = parseImageReference(refString).toString();
    const platform = typeof options.platform === "string" ? parsePlatform(options.platform) : options.platform;
    let removed = 0;
    for (const ref of await this.store.listRefs()) {
      if (ref.reference !== reference) continue;
      if (platform && formatPlatform(ref.platform) !== formatPlatform(platform)) continue;
      if (await this.store.removeRef(`${ref.reference} ${formatPlatform(ref.platform)}`)) removed++;
    }
    return removed;
  }

  /** Closes the HTTP agent this service created (not a dispatcher passed in). */
  async close(): Promise<void> {
    await this.ownDispatcher?.close();
    this.ownDispatcher = undefined;
  }

  /** A stored image whose record and every layer dir exist; no network. */
  private async fromStore(ref: ImageReference, key: string): Promise<ResolvedImage | undefined> {
    const refRecord = await this.store.readRef(key).catch(() => undefined);
    if (!refRecord || !isDigest(refRecord.manifestDigest)) return undefined;
    const image = await this.store.readImage(refRecord.manifestDigest);
    if (!image) return undefined;
    for (const d of image.diffIds) if (!isDigest(d) || !(await this.store.hasLayer(d))) return undefined;
    debug("%s: in the store (%s)", ref.toString(), refRecord.manifestDigest);
    return resolved(ref, image, this.store);
  }

  private async pull(ref: ImageReference, key: string, platform: Platform, options: EnsureOptions): Promise<ResolvedImage> {
    await this.prepare();
    const endpoint = resolveRegistryHost(ref, this.options.config);
    const image = ref.toString();
    const pull: Pull = { client: this.client(endpoint), repository: endpoint.repository, image, platform, signal: options.signal };
    debug("pulling %s from %s/%s (%s)", image, endpoint.baseUrl, endpoint.repository, formatPlatform(platform));

    const { resolvedDigest, manifestDigest, manifest } = await this.resolveManifest(pull, ref.reference);
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
    await this.pullLayers(pull, manifest, configFile.diffIds, options);

    const record = imageRecord(manifestDigest, manifest, configFile);
    await this.store.writeImage(record);
    await this.store.writeRef(key, { reference: image, platform, manifestDigest, resolvedDigest, pulledAt: new Date().toISOString() });
    return resolved(ref, record, this.store);
  }

  /** The tag's (or digest's) manifest; for an index, the manifest of the wanted platform. */
  private async resolveManifest(pull: Pull, reference: string): Promise<{ resolvedDigest: string; manifestDigest: string; manifest: ImageManifest }> {
    const top = await this.manifest(pull, reference, undefined);
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
   * All layers at once. The first failure cancels the others, and ensure() rejects only once
   * every layer has settled, so nothing is still writing to the store after it returns.
   */
  private async pullLayers(pull: Pull, manifest: ImageManifest, diffIds: string[], options: EnsureOptions): Promise<void> {
    const cancel = new AbortController();
    const unlink = linkAbort(options.signal, cancel);
    let first: { error: unknown } | undefined;
    const jobs = manifest.layers.map((layer, i) =>
      this.layers.ensure(this.layerJob(pull, layer, diffIds[i]!, { ...options, signal: cancel.signal })).catch((error: unknown) => {
        first ??= { error };
        cancel.abort();
      }),
    );
    await Promise.all(jobs);
    unlink();
    if (first) throw first.error;
  }

  private layerJob(pull: Pull, layer: Descriptor, diffId: string, options: EnsureOptions): LayerJob {
    return {
      store: this.store,
      client: pull.client,
      fixup: this.options.fixup,
      repository: pull.repository,
      image: pull.image,
      layer,
      diffId,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    };
  }

  /** Creates the store layout and sweeps what crashed pulls left, once per service. */
  private prepare(): Promise<void> {
    this.prepared ??= this.store.prepare().then(() => this.store.sweep().then((n) => void (n && debug("removed %d stale temp files", n))));
    return this.prepared;
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

  /** The config blob, from the store or the registry (verified either way). */
  private async configBlob(pull: Pull, manifest: ImageManifest): Promise<Buffer> {
    const digest = manifest.config.digest;
    const local = await this.store.readBlob(digest);
    if (local) return local;
    const bytes = await pull.client.getBlobBytes(pull.repository, digest, MAX_CONFIG_BYTES, { image: pull.image, signal: pull.signal });
    await this.store.writeBlob(digest, bytes);
    return bytes;
  }

  /** One client per registry host, so tokens are reused across pulls. */
  private client(endpoint: RegistryEndpoint): RegistryClient {
    const existing = this.clients.get(endpoint.baseUrl);
    if (existing) return existing;
    const credentials = this.options.credentials?.(endpoint.host === "registry-1.docker.io" ? "docker.io" : endpoint.host);
    this.ownDispatcher ??= this.options.dispatcher ? undefined : new Agent({ connect: { timeout: 15_000 } });
    const client = new RegistryClient({
      endpoint,
      dispatcher: this.options.dispatcher ?? this.ownDispatcher!,
      ...(credentials ? { credentials } : {}),
      ...(this.options.retry ? { retry: this.options.retry } : {}),
    });
    this.clients.set(endpoint.baseUrl, client);
    return client;
  }

  /** Aborts become TC_ERR_ABORTED, dropped connections TC_ERR_REGISTRY_UNREACHABLE; testcell errors pass. */
  private finalError(err: unknown, ref: ImageReference, signal?: AbortSignal): TestcellError | unknown {
    const image = ref.toString();
    if (signal?.aborted) return tcError("TC_ERR_ABORTED", `pull of ${image} was aborted`, { cause: signal.reason ?? err, context: { image } });
    if (isTestcellError(err)) return err;
    if (isRetryableNetworkError(err)) return unreachableError(err, { host: resolveRegistryHost(ref, this.options.config).host, image, what: "layers" });
    return err;
  }
}

function resolved(ref: ImageReference, image: ImageRecord, store: ContentStore): ResolvedImage {
  return {
    reference: ref.toString(),
    manifestDigest: image.manifestDigest,
    configDigest: image.configDigest,
    config: image.config,
    layerDirs: image.diffIds.map((d) => store.layerPath(d)),
  };
}

/** One pull in progress: where from, what for. */
interface Pull {
  client: RegistryClient;
  repository: string;
  image: string;
  platform: Platform;
  signal: AbortSignal | undefined;
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
