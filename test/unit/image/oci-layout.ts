/**
 * Writes OCI image layouts (image-spec `image-layout.md`) from images built in a test, so that
 * skopeo (an independent client) can push them and umoci can unpack them.
 */
import fs from "node:fs";
import path from "node:path";
import { sha256, type BuiltImage } from "./fake-registry";

const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";

function writeBlob(layout: string, bytes: Buffer): string {
  const digest = sha256(bytes);
  const dir = path.join(layout, "blobs", "sha256");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, digest.slice(7)), bytes);
  return digest;
}

function writeImageBlobs(layout: string, image: BuiltImage): void {
  for (const l of image.layers) writeBlob(layout, l.gz);
  writeBlob(layout, image.config);
  writeBlob(layout, image.manifest);
}

function writeIndexJson(layout: string, descriptor: Record<string, unknown>, tag: string): void {
  fs.writeFileSync(path.join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const doc = { schemaVersion: 2, mediaType: INDEX, manifests: [{ ...descriptor, annotations: { "org.opencontainers.image.ref.name": tag } }] };
  fs.writeFileSync(path.join(layout, "index.json"), JSON.stringify(doc));
}

/** A layout holding one image under `tag` (`oci:<layout>:<tag>`). */
export function writeImageLayout(layout: string, tag: string, image: BuiltImage): void {
  writeImageBlobs(layout, image);
  writeIndexJson(layout, { mediaType: MANIFEST, digest: image.manifestDigest, size: image.manifest.length }, tag);
}

/** A layout whose `tag` is an image index over several platform images (`skopeo copy --all`). */
export function writeIndexLayout(layout: string, tag: string, entries: { image: BuiltImage; platform: { os: string; architecture: string; variant?: string } }[]): string {
  for (const e of entries) writeImageBlobs(layout, e.image);
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: INDEX,
      manifests: entries.map((e) => ({ mediaType: MANIFEST, digest: e.image.manifestDigest, size: e.image.manifest.length, platform: e.platform })),
    }),
  );
  const digest = writeBlob(layout, index);
  writeIndexJson(layout, { mediaType: INDEX, digest, size: index.length }, tag);
  return digest;
}
