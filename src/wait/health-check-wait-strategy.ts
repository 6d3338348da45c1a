/**
 * Ready when the container's health check passes. testcell runs the check itself (Docker's
 * HEALTHCHECK semantics: CMD / CMD-SHELL, timeout, retries, start period) with no interval floor:
 * for readiness, the check is retried every min(interval, 100 ms).
 */
import { tcError } from "../errors";
import { AbstractWaitStrategy, type ContainerHandle, type HealthCheck } from "./wait-strategy";

const MAX_POLL_MS = 100;

/** The argv of a health check test, or undefined for NONE / an empty test. */
export function healthCheckArgv(test: string[]): string[] | undefined {
  const [kind, ...rest] = test;
  if (kind === "CMD") return rest.length ? rest : undefined;
  if (kind === "CMD-SHELL") return rest.length ? ["/bin/sh", "-c", rest.join(" ")] : undefined;
  if (kind === "NONE" || kind === undefined) return undefined;
  return ["/bin/sh", "-c", test.join(" ")];
}

export class HealthCheckWaitStrategy extends AbstractWaitStrategy {
  describe(): string {
    return "health check";
  }

  async waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void> {
    const hc: HealthCheck | undefined = container.healthCheck;
    const argv = hc && healthCheckArgv(hc.test);
    if (!hc || !argv) throw tcError("TC_ERR_INVALID_ARGUMENT", "Wait.forHealthCheck: the container has no health check; add one with withHealthCheck() or use another wait strategy");
    const started = Date.now();
    const interval = Math.min(hc.interval ?? MAX_POLL_MS, MAX_POLL_MS);
    const retries = hc.retries ?? 3;
    let failures = 0;
    let last = "";
    while (!signal.aborted) {
      const r = await withTimeout(container.exec(argv), hc.timeout ?? 30_000);
      if (r && r.exitCode === 0) return;
      last = r ? `exit ${r.exitCode}: ${r.output.trim().slice(-500)}` : `timed out after ${hc.timeout ?? 30_000}ms`;
      // Docker's verdict: unhealthy once `retries` checks at its own interval failed after the start period
      const dockerDeadline = (hc.startPeriod ?? 0) + retries * (hc.interval ?? 30_000);
      if (++failures >= retries && Date.now() - started >= dockerDeadline) {
        throw tcError("TC_ERR_CONTAINER_EXITED", `container ${container.id.slice(0, 12)} is unhealthy after ${failures} failed checks (\`${argv.join(" ")}\`, last: ${last})`);
      }
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((r) => (t = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(t);
  }
}
