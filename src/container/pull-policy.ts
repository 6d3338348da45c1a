/**
 * When to pull an image, as testcontainers' ImagePullPolicy.
 */
export interface PullPolicy {
  shouldPull(): boolean;
}

export const PullPolicy = {
  /** Pull only when the image is not in the local store. */
  defaultPolicy(): PullPolicy {
    return { shouldPull: () => false };
  },
  /** Always ask the registry for the current manifest. */
  alwaysPull(): PullPolicy {
    return { shouldPull: () => true };
  },
};
