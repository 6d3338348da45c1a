/** Media types of manifests, configs and layers that testcell understands. */

export const MediaTypes = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifestV1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerManifestV1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
} as const;

/** The Accept header for manifest requests: the four types a pull can meet (as containerd sends). */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
].join(", ");

export const INDEX_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerManifestList];
export const MANIFEST_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.dockerManifest];
export const CONFIG_TYPES: readonly string[] = [MediaTypes.ociConfig, MediaTypes.dockerConfig];

export type LayerCompression = "gzip" | "zstd" | "none";

const LAYER_TYPES: Record<string, LayerCompression> = {
  "application/vnd.oci.image.layer.v1.tar": "none",
  "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
  "application/vnd.docker.image.rootfs.diff.tar": "none",
  "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
  "application/vnd.docker.image.rootfs.diff.tar.zstd": "zstd",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
};

/** How a layer of this media type is compressed, or undefined for a type that is not a layer. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  return LAYER_TYPES[mediaType];
}
