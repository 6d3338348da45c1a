/**
 * The image side of `start()`: resolve a reference, pull what is missing (manifest, config,
 * layers in parallel), verify everything, and hand the runtime the unpacked layer dirs. With
 * pullPolicy "missing" (the default) an image already in the store costs no network request.
 */
import createDebug from "debug";
import { Agent, type Dispatcher } from "undici";
import type { Config } from "../config";
import { isTestcellError, tcError, type TestcellError } from "../errors";
import { ContentStore, type ImageRecord, type RefRecord } from "./content-store";
import { isDigest } from "./digest";
import { pruneStore, type PruneOptions, type PruneResult } from "./store-gc";
import { checkPullPolicy, isStale, type PullPolicy } from "./image-pull-policy";
import { dockerCredentials } from "./docker-credentials";
import type { ImageConfig } from "./image-config";
import { ImagePuller } from "./image-puller";
import type { PullProgress } from "./layer-puller";
import { formatPlatform, hostPlatform, parsePlatform, platformKey, type Platform } from "./platform";
import { parseImageReference, resolveRegistryHost, type ImageReference, type RegistryEndpoint } from "./reference";
import type { RegistryCredentials } from "./registry-auth";
import { RegistryClient, type RetryPolicy } from "./registry-client";
import { isRetryableNetworkError, unreachableError } from "./registry-errors";
import type { Fixup } from "./unpack";

export type { PullProgress } from "./layer-puller";

const debug = createDebug("testcell:pull");

export type { MaxAgePullPolicy, PullPolicy } from "./image-pull-policy";
export type { PruneOptions, PruneResult } from "./store-gc";

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
  /**
   * "missing" (default): use the store when the image is there; "always": ask the registry (one
   * HEAD when the tag has not moved); `{ maxAgeMs }` (see ageBasedPullPolicy): ask it when the
   * store's copy was pulled or last checked longer ago than that.
   */
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
  /**
   * Credentials by registry: `docker.io` for Docker Hub, else the host contacted (mirror or
   * registry). Default: the Docker CLI's (DOCKER_AUTH_CONFIG, $DOCKER_CONFIG/config.json or
   * ~/.docker/config.json, with credHelpers and credsStore), as testcontainers reads them.
   */
  credentials?: (registry: string) => RegistryCredentials | undefined | Promise<RegistryCredentials | undefined>;
  retry?: Partial<RetryPolicy>;
  /** A registry response that sends nothing for this long counts as a dropped connection (and is resumed); default 30 s. */
  stallTimeoutMs?: number;
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
  private readonly puller: ImagePuller;
  private readonly clients = new Map<string, Promise<RegistryClient>>();
  private readonly credentials: NonNullable<ImageServiceOptions["credentials"]>;
  private ownDispatcher: Agent | undefined;
  private prepared: Promise<void> | undefined;

  constructor(options: ImageServiceOptions) {
    this.options = options;
    this.store = new ContentStore(options.config.cacheDir);
    this.puller = new ImagePuller(this.store, options.fixup);
    this.credentials = options.credentials ?? dockerCredentials();
  }

  /** Makes an image available locally and returns what the runtime needs to run it. */
  async ensure(refString: string, options: EnsureOptions = {}): Promise<ResolvedImage> {
    const ref = parseImageReference(refString);
    const platform = typeof options.platform === "string" ? parsePlatform(options.platform) : (options.platform ?? hostPlatform());
    const key = `${ref.toString()} ${platformKey(platform)}`;
    const policy = checkPullPolicy(options.pullPolicy ?? "missing");
    const cached = await this.fromStore(ref, key);
    if (cached && !isStale(policy, cached.record.pulledAt, cached.record.checkedAt)) return cached.image;
    try {
      options.signal?.throwIfAborted();
      if (cached) {
        const unchanged = await this.unchanged(ref, key, cached, options.signal);
        if (unchanged) return unchanged;
      }
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
        platform: platformKey(ref.platform),
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
      if (platform && platformKey(ref.platform) !== platformKey(platform)) continue;
      if (await this.store.removeRef(`${ref.reference} ${platformKey(ref.platform)}`)) removed++;
    }
    return removed;
  }

  /**
   * Deletes image records, blobs and layers that no reference reaches any more (after `remove`,
   * or when a tag moved). Entries younger than `minAgeMs` (default 10 min) and layers being
   * pulled are kept; pass `inUse` to keep the layer dirs of running containers.
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    await this.prepare();
    return pruneStore(this.store, options);
  }

  /** Closes the HTTP agent this service created (not a dispatcher passed in). */
  async close(): Promise<void> {
    await this.ownDispatcher?.close();
    this.ownDispatcher = undefined;
  }

  /** A stored image whose record and every layer dir exist; no network. */
  private async fromStore(ref: ImageReference, key: string): Promise<{ image: ResolvedImage; record: RefRecord } | undefined> {
    const refRecord = await this.store.readRef(key).catch(() => undefined);
    if (!refRecord || !isDigest(refRecord.manifestDigest)) return undefined;
    const image = await this.store.readImage(refRecord.manifestDigest);
    if (!image) return undefined;
    for (const d of image.diffIds) if (!isDigest(d) || !(await this.store.hasLayer(d))) return undefined;
    debug("%s: in the store (%s)", ref.toString(), refRecord.manifestDigest);
    return { image: resolved(ref, image, this.store), record: refRecord };
  }

  /**
   * A stored image that policy says to check: one HEAD tells whether the tag still names what the
   * store holds (HEADs are not counted as pulls); if so, the check is recorded and the store's copy used.
   */
  private async unchanged(ref: ImageReference, key: string, cached: { image: ResolvedImage; record: RefRecord }, signal: AbortSignal | undefined): Promise<ResolvedImage | undefined> {
    if (ref.digest !== undefined) return cached.image; // content-addressed: it cannot have changed
    await this.prepare();
    const endpoint = resolveRegistryHost(ref, this.options.config);
    const current = await (await this.client(endpoint))
      .headManifest(endpoint.repository, ref.reference, { image: ref.toString(), signal })
      .catch(() => undefined); // the GET that follows reports any real problem
    if (current === undefined || current !== cached.record.resolvedDigest) return undefined;
    await this.store.writeRef(key, { ...cached.record, checkedAt: new Date().toISOString() }).catch((err: unknown) => debug("cannot record the check of %s: %s", key, String(err)));
    return cached.image;
  }

  private async pull(ref: ImageReference, key: string, platform: Platform, options: EnsureOptions): Promise<ResolvedImage> {
    await this.prepare();
    const endpoint = resolveRegistryHost(ref, this.options.config);
    debug("pulling %s from %s/%s (%s)", ref.toString(), endpoint.baseUrl, endpoint.repository, formatPlatform(platform));
    const record = await this.puller.pull({
      client: await this.client(endpoint),
      repository: endpoint.repository,
      reference: ref.reference,
      image: ref.toString(),
      key,
      platform,
      signal: options.signal,
      onProgress: options.onProgress,
    });
    return resolved(ref, record, this.store);
  }

  /** Creates the store layout and sweeps what crashed pulls left, once per service. */
  private prepare(): Promise<void> {
    this.prepared ??= this.store.prepare().then(() => this.store.sweep().then((n) => void (n && debug("removed %d stale temp files", n))));
    return this.prepared;
  }

  /** One client per registry host, so tokens are reused across pulls. */
  private client(endpoint: RegistryEndpoint): Promise<RegistryClient> {
    let client = this.clients.get(endpoint.baseUrl);
    if (!client) {
      client = this.newClient(endpoint);
      this.clients.set(endpoint.baseUrl, client);
      client.catch(() => this.clients.delete(endpoint.baseUrl)); // a failed credentials lookup is tried again next time
    }
    return client;
  }

  private async newClient(endpoint: RegistryEndpoint): Promise<RegistryClient> {
    const credentials = await this.credentials(endpoint.host === "registry-1.docker.io" ? "docker.io" : endpoint.host);
    this.ownDispatcher ??= this.options.dispatcher ? undefined : new Agent({ connect: { timeout: 15_000 } });
    return new RegistryClient({
      endpoint,
      dispatcher: this.options.dispatcher ?? this.ownDispatcher!,
      ...(credentials ? { credentials } : {}),
      ...(this.options.retry ? { retry: this.options.retry } : {}),
      ...(this.options.stallTimeoutMs !== undefined ? { stallTimeoutMs: this.options.stallTimeoutMs } : {}),
    });
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
