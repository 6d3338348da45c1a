/**
 * When `ImageService.ensure` asks the registry: "missing" (only when the store lacks the image),
 * "always" (one HEAD per call; a GET only when the tag moved), or an age-based policy.
 */
import { invalidArgument } from "../errors";

/** Ask the registry again once the store's copy was pulled, or last found current, more than `maxAgeMs` ago. */
export interface MaxAgePullPolicy {
  maxAgeMs: number;
}

export type PullPolicy = "missing" | "always" | MaxAgePullPolicy;

/**
 * An age-based policy, like testcontainers-java's `PullPolicy.ageBased(maxAge)`, but measured from
 * when testcell last pulled or checked the tag rather than from the image's build date (which
 * would re-pull an old but current image on every start).
 */
export function ageBasedPullPolicy(maxAgeMs: number): MaxAgePullPolicy {
  return checkPullPolicy({ maxAgeMs }) as MaxAgePullPolicy;
}

/** Validates a policy at the API boundary. */
export function checkPullPolicy(policy: unknown): PullPolicy {
  if (policy === "missing" || policy === "always") return policy;
  if (typeof policy === "object" && policy !== null && "maxAgeMs" in policy) {
    const { maxAgeMs } = policy as { maxAgeMs: unknown };
    if (typeof maxAgeMs === "number" && Number.isFinite(maxAgeMs) && maxAgeMs >= 0) return { maxAgeMs };
    throw invalidArgument("pullPolicy.maxAgeMs", "a number of milliseconds >= 0", maxAgeMs);
  }
  throw invalidArgument("pullPolicy", `"missing", "always" or { maxAgeMs }`, policy);
}

/** True when a store entry last pulled or checked at these times is too old for the policy. */
export function isStale(policy: PullPolicy, pulledAt: string, checkedAt: string | undefined, now = Date.now()): boolean {
  if (policy === "missing") return false;
  if (policy === "always") return true;
  const last = Math.max(Date.parse(pulledAt) || 0, Date.parse(checkedAt ?? "") || 0);
  return now - last >= policy.maxAgeMs;
}
