/**
 * A tiny distribution-spec registry on 127.0.0.1:0 for fault tests, plus builders for layers
 * (tar made with tar-stream, gzip'd) and images. Faults are injected per test with `intercept`.
 */
import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import zlib from "node:zlib";
import tar from "tar-stream";

export type TarEntry = Parameters<ReturnType<typeof tar.pack>["entry"]>[0] & { body?: string | Buffer };

export interface BuiltLayer {
  tar: Buffer;
  gz: Buffer;
  digest: string;
  diffId: string;
}

export interface BuiltImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
}

export const sha256 = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** A gzip'd layer tar from entries (bodies inline). */
export async function buildLayer(entries: TarEntry[]): Promise<BuiltLayer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c: unknown) => chunks.push(c as Buffer));
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body === undefined) pack.entry({ mtime: new Date(1_600_000_000_000), ...header }, cb);
      else pack.entry({ mtime: new Date(1_600_000_000_000), ...header }, body, cb);
    });
  }
  pack.finalize();
  await done;
  const tarBytes = Buffer.concat(chunks);
  const gz = zlib.gzipSync(tarBytes);
  return { tar: tarBytes, gz, digest: sha256(gz), diffId: sha256(tarBytes) };
}

/** An OCI image manifest + config over the given layers. */
export function buildImage(layers: BuiltLayer[], config: Record<string, unknown> = {}, architecture = "amd64"): BuiltImage {
  const configBytes = Buffer.from(
    JSON.stringify({ architecture, os: "linux", config, rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha256(configBytes), size: configBytes.length },
      layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.gz.length })),
    }),
  );
  return { manifest, manifestDigest: sha256(manifest), config: configBytes, configDigest: sha256(configBytes), layers };
}

/** An OCI index over platform manifests (plus whatever extra entries, e.g. attestations). */
export function buildIndex(entries: { image: BuiltImage; platform: Record<string, string>; annotations?: Record<string, string> }[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: entries.map((e) => ({
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        digest: e.image.manifestDigest,
        size: e.image.manifest.length,
        platform: e.platform,
        ...(e.annotations ? { annotations: e.annotations } : {}),
      })),
    }),
  );
}

export interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
  range: string | undefined;
}

type Interceptor = (req: http.IncomingMessage, res: http.ServerResponse) => boolean | void;

/** The registry: manifests by repo+tag/digest, blobs by digest. */
export class FakeRegistry {
  readonly requests: RecordedRequest[] = [];
  /** Return true to say the request was answered. */
  intercept: Interceptor | undefined;
  private readonly manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  private readonly blobs = new Map<string, Buffer>();

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<FakeRegistry> {
    const server = http.createServer();
    const registry = new FakeRegistry(server);
    server.on("request", (req, res) => registry.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return registry;
  }

  get host(): string {
    return `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Pushes an image under repo:tag (and its digest). */
  push(repo: string, tag: string, image: BuiltImage): void {
    this.putManifest(repo, tag, image.manifest, "application/vnd.oci.image.manifest.v1+json");
    this.putManifest(repo, image.manifestDigest, image.manifest, "application/vnd.oci.image.manifest.v1+json");
    this.blobs.set(image.configDigest, image.config);
    for (const l of image.layers) this.blobs.set(l.digest, l.gz);
  }

  putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): void {
    this.manifests.set(`${repo}:${reference}`, { bytes, mediaType });
    this.manifests.set(`${repo}:${sha256(bytes)}`, { bytes, mediaType });
  }

  putBlob(digest: string, bytes: Buffer): void {
    this.blobs.set(digest, bytes);
  }

  /** Requests other than those to the token endpoint. */
  count(filter: (r: RecordedRequest) => boolean = () => true): number {
    return this.requests.filter(filter).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push({ method: req.method!, url: req.url!, authorization: req.headers.authorization, range: req.headers.range });
    if (this.intercept?.(req, res)) return;
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(req.url!.split("?")[0]!);
    if (req.url === "/v2/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
    if (!m) return void error(res, 404, "NAME_UNKNOWN", "unknown route");
    const [, repo, kind, reference] = m;
    if (kind === "manifests") {
      const found = this.manifests.get(`${repo}:${reference}`);
      if (!found) return void error(res, 404, "MANIFEST_UNKNOWN", "manifest unknown");
      res.writeHead(200, { "content-type": found.mediaType, "docker-content-digest": sha256(found.bytes), "content-length": found.bytes.length });
      return void res.end(req.method === "HEAD" ? undefined : found.bytes);
    }
    const blob = this.blobs.get(reference!);
    if (!blob) return void error(res, 404, "BLOB_UNKNOWN", "blob unknown");
    const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? NaN);
    if (from >= 0 && from < blob.length) {
      res.writeHead(206, { "content-type": "application/octet-stream", "content-length": blob.length - from, "content-range": `bytes ${from}-${blob.length - 1}/${blob.length}` });
      return void res.end(blob.subarray(from));
    }
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": blob.length });
    res.end(blob);
  }
}

/** Answers with a distribution-spec error body; returns true (answered) for interceptors. */
export function error(res: http.ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): true {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify({ errors: [{ code, message }] }));
  return true;
}
