/**
 * Shared containers for a whole Jest run: start them once in globalSetup, hand their connection
 * details to every worker through environment variables, stop them in globalTeardown.
 *
 *   // jest.global-setup.ts
 *   export default sharedContainers(async () => {
 *     const pg = await new PostgreSqlContainer().start();
 *     return { env: { DATABASE_URL: pg.getConnectionUri() }, containers: [pg] };
 *   });
 *   // jest.global-teardown.ts
 *   export { stopSharedContainers as default } from "testcell/jest";
 */

export interface SharedContainers {
  /** Variables every test worker sees in process.env (workers start after globalSetup). */
  env?: Record<string, string>;
  /** What globalTeardown stops. */
  containers: Array<{ stop(): Promise<unknown> }>;
}

const KEY = Symbol.for("testcell.jest.shared");
type Holder = { [KEY]?: SharedContainers[] };

/** Wraps a start function into a Jest globalSetup. */
export function sharedContainers(start: () => Promise<SharedContainers>): () => Promise<void> {
  return async () => {
    const shared = await start();
    Object.assign(process.env, shared.env ?? {});
    ((globalThis as Holder)[KEY] ??= []).push(shared);
  };
}

/** A Jest globalTeardown that stops every container sharedContainers started; errors are collected. */
export async function stopSharedContainers(): Promise<void> {
  const all = ((globalThis as Holder)[KEY] ?? []).splice(0);
  const results = await Promise.allSettled(all.flatMap((s) => s.containers.map((c) => c.stop())));
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed.length) throw new AggregateError(failed.map((f) => f.reason), `${failed.length} shared container(s) failed to stop`);
}
