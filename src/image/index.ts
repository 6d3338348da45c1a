/**
 * The image pipeline's public surface (for src/index.ts to re-export): the service, its
 * options, pull policies, credentials from the Docker config, and progress.
 */
export {
  ImageService,
  type EnsureOptions,
  type ImageServiceOptions,
  type ResolvedImage,
  type StoredImage,
  type PullProgress,
  type PullPolicy,
  type MaxAgePullPolicy,
  type PruneOptions,
  type PruneResult,
} from "./image-service";
export { ageBasedPullPolicy } from "./image-pull-policy";
export { dockerCredentials, type CredentialsLookup, type DockerCredentialsOptions } from "./docker-credentials";
export type { RegistryCredentials } from "./registry-auth";
export { pullProgressChannel } from "./layer-puller";
export { parseImageReference, type ImageReference } from "./reference";
export { formatPlatform, parsePlatform, type Platform } from "./platform";
