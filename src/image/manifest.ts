/**
 * Manifests and indexes (OCI image-spec `manifest.md`, `image-index.md`, and Docker's schema 2
 * equivalents): parsed from the exact bytes received and validated before any descriptor in
 * them is used for a request or a file name.
 */
import { tcError } from "../errors";
import { isDigest } from "./digest";
import { CONFIG_TYPES, INDEX_TYPES, layerCompression, MANIFEST_TYPES, MediaTypes } from "./media-types";
import type { Platform } from "./platform";

/** A content descriptor: what a manifest says about a blob. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list. */
export interface ImageIndex {
  kind: "index";
  mediaType: string;
  manifests: Descriptor[];
}

/** An OCI image manifest or a Docker schema 2 manifest. */
export interface ImageManifest {
  kind: "manifest";
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export type ManifestDocument = ImageIndex | ImageManifest;

type Json = Record<string, unknown>;

/** Parses a manifest or an index; its `mediaType` must agree with Content-Type (CVE-2021-41190). */
export function parseManifestDocument(bytes: Uint8Array, contentType: string | undefined, image: string): ManifestDocument {
  const doc = parseJson(bytes, image);
  const mediaType = documentType(doc, contentType, image);
  if (mediaType === MediaTypes.dockerManifestV1 || mediaType === MediaTypes.dockerManifestV1Signed) {
    throw invalid(image, "it uses Docker's schema 1 manifest format, which is deprecated and unsupported: re-push it with a current client");
  }
  if (doc.schemaVersion !== 2) throw invalid(image, `schemaVersion is ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  if (INDEX_TYPES.includes(mediaType)) {
    const manifests = array(doc.manifests, "manifests", image).map((d, i) => descriptor(d, `manifests[${i}]`, image));
    return { kind: "index", mediaType, manifests };
  }
  if (!MANIFEST_TYPES.includes(mediaType)) throw invalid(image, `media type \`${mediaType}\` is not an image manifest or index`);
  const config = descriptor(doc.config, "config", image);
  if (!CONFIG_TYPES.includes(config.mediaType)) {
    throw invalid(image, `its config has media type \`${config.mediaType}\`: it is an OCI artifact, not a container image`);
  }
  const layers = array(doc.layers, "layers", image).map((d, i) => descriptor(d, `layers[${i}]`, image));
  for (const layer of layers) {
    if (layerCompression(layer.mediaType) === undefined) {
      throw invalid(image, `layer ${layer.digest} has media type \`${layer.mediaType}\`, which testcell cannot unpack`);
    }
  }
  return { kind: "manifest", mediaType, config, layers };
}

function parseJson(bytes: Uint8Array, image: string): Json {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (cause) {
    throw invalid(image, `it is not valid JSON (${(cause as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw invalid(image, "it is not a JSON object");
  return doc as Json;
}

/** The document's type from its `mediaType`, Content-Type, or (for old registries) its fields. */
function documentType(doc: Json, contentType: string | undefined, image: string): string {
  const header = contentType?.split(";")[0]!.trim().toLowerCase();
  const generic = header === undefined || header === "" || header === "application/json" || header === "text/plain";
  const field = typeof doc.mediaType === "string" ? doc.mediaType : undefined;
  if (field !== undefined && !generic && field !== header) {
    throw invalid(image, `its mediaType \`${field}\` disagrees with the Content-Type \`${header}\` the registry sent`);
  }
  if ("manifests" in doc && ("layers" in doc || "config" in doc)) {
    throw invalid(image, "it has both `manifests` and `layers`/`config`, so it is ambiguous");
  }
  if (field !== undefined) return field;
  if (!generic) return header;
  if ("manifests" in doc) return MediaTypes.ociIndex;
  if ("layers" in doc) return MediaTypes.ociManifest;
  throw invalid(image, "it has no mediaType and neither `manifests` nor `layers`");
}

function descriptor(value: unknown, where: string, image: string): Descriptor {
  if (typeof value !== "object" || value === null) throw invalid(image, `${where} is not a descriptor object`);
  const d = value as Json;
  if (typeof d.mediaType !== "string") throw invalid(image, `${where}.mediaType is missing`);
  if (!isDigest(d.digest)) {
    throw invalid(image, `${where}.digest ${JSON.stringify(d.digest)} is not a sha256 digest (sha256:<64 lowercase hex>)`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) throw invalid(image, `${where}.size is not a size`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  const p = d.platform as Json | undefined;
  if (p && typeof p.os === "string" && typeof p.architecture === "string") {
    out.platform = { os: p.os, architecture: p.architecture, ...(typeof p.variant === "string" ? { variant: p.variant } : {}) };
  }
  if (d.annotations && typeof d.annotations === "object") out.annotations = d.annotations as Record<string, string>;
  return out;
}

function array(value: unknown, where: string, image: string): unknown[] {
  if (!Array.isArray(value)) throw invalid(image, `\`${where}\` is not an array`);
  return value;
}

function invalid(image: string, reason: string): Error {
  return tcError("TC_ERR_MANIFEST_INVALID", `manifest of image ${image} is invalid: ${reason}`, { context: { image } });
}
