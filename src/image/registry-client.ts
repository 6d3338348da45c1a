/**
 * A distribution-spec client for one registry host, over undici with an injectable dispatcher
 * (a ProxyAgent for users behind a proxy, a MockAgent or a real loopback server for tests).
 * It pings, authenticates (anonymous, Bearer token, Basic), fetches and verifies manifests,
 * streams blobs across redirects, and retries 408/429/5xx and dropped connections.
 */
import type { Readable } from "node:stream";
import createDebug from "debug";
import pRetry, { AbortError } from "p-retry";
import { request, type Dispatcher } from "undici";
import { tcError } from "../errors";
import { isDigest, sha256Digest } from "./digest";
import { MANIFEST_ACCEPT } from "./media-types";
import type { RegistryEndpoint } from "./reference";
import { RegistryAuth, type RegistryCredentials } from "./registry-auth";
import {
  isRetryableNetworkError,
  isRetryableStatus,
  parseRegistryErrors,
  statusError,
  unreachableError,
  type RequestContext,
} from "./registry-errors";
import { readLimited } from "./read-limited";
import { sleep } from "./sleep";

const debug = createDebug("testcell:pull");

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** Retry policy: a few attempts with a short backoff; Retry-After is honoured up to a cap. */
export interface RetryPolicy {
  retries: number;
  minTimeoutMs: number;
  maxTimeoutMs: number;
  /** A Retry-After longer than this fails at once rather than stalling a test run. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, minTimeoutMs: 250, maxTimeoutMs: 2_000, maxRetryAfterMs: 30_000 };

/** A response that sends nothing (no headers, or no body bytes) for this long is treated as a dropped connection. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

export interface RegistryClientOptions {
  endpoint: RegistryEndpoint;
  dispatcher: Dispatcher;
  credentials?: RegistryCredentials;
  retry?: Partial<RetryPolicy>;
  /** See DEFAULT_STALL_TIMEOUT_MS. */
  stallTimeoutMs?: number;
}

/** Per-call options: the image named in messages, and cancellation. */
export interface CallOptions {
  image?: string;
  signal?: AbortSignal;
}

/** A manifest or index exactly as received. */
export interface FetchedManifest {
  bytes: Buffer;
  /** The Content-Type the registry sent. */
  contentType: string | undefined;
  /** sha256 of the bytes received (checked against the requested digest when there was one). */
  digest: string;
  /** The Docker-Content-Digest header, when sent. */
  dockerContentDigest: string | undefined;
}

/** A blob response whose body is still to be read (and verified by the reader). */
export interface BlobResponse {
  body: Readable;
  /** Content-Length, when the registry (or the storage it redirected to) sent one. */
  size: number | undefined;
  /** Where the body starts in the blob: the offset asked for (206), or 0 when the server ignored the Range (200). */
  start: number;
}

class RetryableStatus extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    readonly body: Buffer,
  ) {
    super(`HTTP ${status}`);
  }
}

/** Talks to one registry host. */
export class RegistryClient {
  readonly endpoint: RegistryEndpoint;
  readonly retry: RetryPolicy;
  readonly stallTimeoutMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly auth: RegistryAuth;
  private readonly withCredentials: boolean;

  constructor(options: RegistryClientOptions) {
    this.endpoint = options.endpoint;
    this.dispatcher = options.dispatcher;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    this.withCredentials = options.credentials !== undefined;
    this.auth = new RegistryAuth(this.endpoint.host, this.endpoint.plainHttp, options.credentials, (url, headers, image, signal, form) =>
      this.follow(form ? "POST" : "GET", url, headers, { host: new URL(url).host, image, what: "auth token" }, signal, form?.toString()),
    );
  }

  /** `GET /v2/`: resolves when the registry answers as a v2 registry (200, or 401 with a challenge). */
  async ping(options: CallOptions = {}): Promise<void> {
    const res = await this.send("GET", "/v2/", {}, undefined, { ...options, what: "API version check" });
    const body = await readLimited(res.body, 64 * 1024);
    if (res.statusCode === 404) {
      throw tcError("TC_ERR_REGISTRY_RESPONSE", `${this.endpoint.baseUrl} answered 404 to GET /v2/: it is not a registry (distribution API v2); check the address`, {
        context: { registry: this.endpoint.host },
      });
    }
    if (res.statusCode !== 200) throw this.statusError(res.statusCode, body, "API version check", "GET", "/v2/", options);
  }

  /** GETs a manifest or index by tag or digest and verifies its digest (see FetchedManifest). */
  async getManifest(repository: string, reference: string, options: CallOptions = {}): Promise<FetchedManifest> {
    const path = `/v2/${repository}/manifests/${reference}`;
    const res = await this.send("GET", path, { accept: MANIFEST_ACCEPT }, pullScope(repository), { ...options, what: "manifest" });
    const image = options.image ?? `${this.endpoint.host}/${repository}:${reference}`;
    const bytes = await readLimited(res.body, MAX_MANIFEST_BYTES, () =>
      tcError("TC_ERR_MANIFEST_INVALID", `manifest of image ${image} from registry ${this.endpoint.host} is larger than ${MAX_MANIFEST_BYTES} bytes: refusing it`),
    );
    if (res.statusCode !== 200) throw this.statusError(res.statusCode, bytes, "manifest", "GET", path, options);
    const digest = sha256Digest(bytes);
    const header = headerValue(res.headers["docker-content-digest"]);
    if (isDigest(reference) && digest !== reference) throw manifestMismatch(image, this.endpoint.host, reference, digest, "the digest requested");
    if (header?.startsWith("sha256:") && header !== digest) {
      throw manifestMismatch(image, this.endpoint.host, header, digest, "its Docker-Content-Digest header");
    }
    debug("manifest %s %s (%d bytes, %s)", image, digest, bytes.length, headerValue(res.headers["content-type"]));
    return { bytes, contentType: headerValue(res.headers["content-type"]), digest, dockerContentDigest: header };
  }

  /** HEADs a manifest: its digest without a GET (Docker Hub does not count HEADs as pulls). */
  async headManifest(repository: string, reference: string, options: CallOptions = {}): Promise<string | undefined> {
    const path = `/v2/${repository}/manifests/${reference}`;
    const res = await this.send("HEAD", path, { accept: MANIFEST_ACCEPT }, pullScope(repository), { ...options, what: "manifest" });
    await res.body.dump();
    if (res.statusCode !== 200) throw this.statusError(res.statusCode, Buffer.alloc(0), "manifest", "HEAD", path, options);
    const header = headerValue(res.headers["docker-content-digest"]);
    return isDigest(header) ? header : undefined;
  }

  /** Opens a blob as a stream (from `offset`, with a Range request); the caller verifies its digest while reading. */
  async getBlob(repository: string, digest: string, options: CallOptions & { offset?: number } = {}): Promise<BlobResponse> {
    if (!isDigest(digest)) throw tcError("TC_ERR_INVALID_ARGUMENT", `blob digest: expected sha256:<64 lowercase hex>, got \`${digest}\``);
    const path = `/v2/${repository}/blobs/${digest}`;
    const what = `blob ${digest}`;
    const offset = options.offset ?? 0;
    const res = await this.send("GET", path, offset > 0 ? { range: `bytes=${offset}-` } : {}, pullScope(repository), { ...options, what });
    const length = Number(headerValue(res.headers["content-length"]));
    const size = Number.isSafeInteger(length) ? length : undefined;
    if (res.statusCode === 200) return { body: res.body, size, start: 0 };
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(headerValue(res.headers["content-range"]) ?? "");
    if (res.statusCode === 206 && offset > 0 && range && Number(range[1]) === offset) return { body: res.body, size, start: offset };
    const body = await readLimited(res.body, 64 * 1024).catch(() => Buffer.alloc(0));
    if (res.statusCode === 206) {
      throw tcError("TC_ERR_REGISTRY_RESPONSE", `registry ${this.endpoint.host} answered a request for ${what} from byte ${offset} with a different range (${headerValue(res.headers["content-range"]) ?? "none"}): the registry or a proxy mangles Range requests`, {
        context: { image: options.image, registry: this.endpoint.host },
      });
    }
    throw this.statusError(res.statusCode, body, what, "GET", path, options);
  }

  /** Reads a small blob (an image config) whole and verifies its digest. */
  async getBlobBytes(repository: string, digest: string, maxBytes: number, options: CallOptions = {}): Promise<Buffer> {
    const image = options.image ?? `${this.endpoint.host}/${repository}`;
    const { body } = await this.getBlob(repository, digest, options);
    const bytes = await readLimited(body, maxBytes, () =>
      tcError("TC_ERR_MANIFEST_INVALID", `blob ${digest} of image ${image} is larger than ${maxBytes} bytes: refusing it`),
    ).catch((err: unknown) => {
      throw unreachableError(err, { host: this.endpoint.host, image, what: `blob ${digest}` });
    });
    const actual = sha256Digest(bytes);
    if (actual !== digest) {
      throw tcError(
        "TC_ERR_DIGEST_MISMATCH",
        `blob ${digest} of image ${image} from registry ${this.endpoint.host} has digest ${actual}: the registry served wrong content; nothing was stored. Push the image again or check any proxy in between`,
        { context: { image, registry: this.endpoint.host, expected: digest, actual } },
      );
    }
    return bytes;
  }

  /** One logical request: auth header, redirects, one answer to a 401 challenge. */
  private async send(
    method: string,
    path: string,
    headers: Record<string, string>,
    scope: string | undefined,
    options: CallOptions & { what: string },
  ): Promise<Dispatcher.ResponseData> {
    const image = options.image ?? this.endpoint.host;
    const url = `${this.endpoint.baseUrl}${path}`;
    const ctx = { host: this.endpoint.host, image, what: options.what };
    const first = await this.auth.header(scope, image, options.signal);
    let res = await this.follow(method, url, withAuth(headers, first), ctx, options.signal);
    if (res.statusCode !== 401) return res;
    const challenge = res.headers["www-authenticate"];
    const body = await readLimited(res.body, 64 * 1024).catch(() => Buffer.alloc(0));
    const retryAuth = await this.auth.answer(challenge, scope, image, options.signal);
    if (retryAuth === undefined) throw this.statusError(401, body, options.what, method, path, options);
    debug("%s %s: retrying with %s auth", method, path, retryAuth.split(" ")[0]);
    res = await this.follow(method, url, withAuth(headers, retryAuth), ctx, options.signal);
    return res;
  }

  /** Follows redirects; Authorization is dropped as soon as a redirect leaves the origin. */
  private async follow(
    method: string,
    url: string,
    headers: Record<string, string>,
    ctx: Pick<RequestContext, "host" | "image" | "what">,
    signal?: AbortSignal,
    body?: string,
  ): Promise<Dispatcher.ResponseData> {
    let current = url;
    let sent = headers;
    for (let hop = 0; ; hop++) {
      const res = await this.exchange(method, current, sent, ctx, signal, body);
      const location = headerValue(res.headers.location);
      if (!REDIRECTS.has(res.statusCode) || location === undefined) return res;
      await res.body.dump();
      if (hop >= MAX_REDIRECTS) {
        throw tcError("TC_ERR_REGISTRY_RESPONSE", `registry ${ctx.host} redirected the ${ctx.what} of ${ctx.image} more than ${MAX_REDIRECTS} times: its storage setup loops`, {
          context: { image: ctx.image, registry: ctx.host },
        });
      }
      const next = new URL(location, current);
      if (next.protocol !== "https:" && next.protocol !== "http:") {
        throw tcError("TC_ERR_REGISTRY_RESPONSE", `registry ${ctx.host} redirected the ${ctx.what} of ${ctx.image} to a ${next.protocol} URL: only http(s) is followed`, {
          context: { image: ctx.image, registry: ctx.host },
        });
      }
      if (next.origin !== new URL(current).origin) sent = withAuth(sent, undefined);
      debug("%s redirected to %s", ctx.what, next.origin);
      current = next.href;
    }
  }

  /** One HTTP exchange, retried with backoff on 408/429/5xx and on reset connections. */
  private exchange(
    method: string,
    url: string,
    headers: Record<string, string>,
    ctx: Pick<RequestContext, "host" | "image" | "what">,
    signal?: AbortSignal,
    requestBody?: string,
  ): Promise<Dispatcher.ResponseData> {
    const full: RequestContext = { ...ctx, method, url, withCredentials: this.withCredentials };
    const attempt = async (): Promise<Dispatcher.ResponseData> => {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: method as Dispatcher.HttpMethod,
          headers,
          dispatcher: this.dispatcher,
          signal,
          headersTimeout: this.stallTimeoutMs,
          bodyTimeout: this.stallTimeoutMs,
          ...(requestBody !== undefined ? { body: requestBody } : {}),
        });
      } catch (err) {
        if (signal?.aborted || !isRetryableNetworkError(err)) throw new AbortError(asError(signal?.aborted ? err : unreachableError(err, ctx)));
        throw err;
      }
      if (!isRetryableStatus(res.statusCode)) return res;
      const retryAfterMs = parseRetryAfter(headerValue(res.headers["retry-after"]));
      const body = await readLimited(res.body, 64 * 1024).catch(() => Buffer.alloc(0));
      if (retryAfterMs !== undefined && retryAfterMs > this.retry.maxRetryAfterMs) {
        const wait = ` (it asks to retry after ${Math.ceil(retryAfterMs / 1000)} s)`;
        throw new AbortError(statusError(res.statusCode, parseRegistryErrors(body), full, wait));
      }
      throw new RetryableStatus(res.statusCode, retryAfterMs, body);
    };
    return pRetry(attempt, {
      retries: this.retry.retries,
      minTimeout: this.retry.minTimeoutMs,
      maxTimeout: this.retry.maxTimeoutMs,
      factor: 2,
      signal,
      onFailedAttempt: async (err) => {
        debug("%s %s failed (%s), %d retries left", method, url, err.message, err.retriesLeft);
        const wait = err instanceof RetryableStatus ? err.retryAfterMs : undefined;
        if (wait && err.retriesLeft > 0) await sleep(wait, signal);
      },
    }).catch((err: unknown) => {
      if (err instanceof RetryableStatus) {
        const tries = ` after ${this.retry.retries + 1} attempts`;
        throw statusError(err.status, parseRegistryErrors(err.body), full, tries);
      }
      if (signal?.aborted) throw err;
      throw unreachableError(err, ctx);
    });
  }

  private statusError(status: number, body: Buffer, what: string, method: string, path: string, options: CallOptions): Error {
    const image = options.image ?? this.endpoint.host;
    const ctx: RequestContext = { host: this.endpoint.host, image, what, method, url: `${this.endpoint.baseUrl}${path}`, withCredentials: this.withCredentials };
    return statusError(status, parseRegistryErrors(body), ctx);
  }
}

function pullScope(repository: string): string {
  return `repository:${repository}:pull`;
}

function withAuth(headers: Record<string, string>, authorization: string | undefined): Record<string, string> {
  const { authorization: _dropped, ...rest } = headers;
  return authorization === undefined ? rest : { ...rest, authorization };
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After as delay-seconds or an HTTP date, in ms. */
export function parseRetryAfter(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function manifestMismatch(image: string, host: string, expected: string, actual: string, source: string): Error {
  return tcError(
    "TC_ERR_DIGEST_MISMATCH",
    `manifest of image ${image} from registry ${host} has digest ${actual}, not ${expected} (${source}): the registry served wrong content; nothing was stored. Check the digest, or any proxy in between`,
    { context: { image, registry: host, expected, actual } },
  );
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
