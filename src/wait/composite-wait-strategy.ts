/**
 * Ready when all of several strategies are; `withDeadline` caps the whole, as testcontainers'
 * Wait.forAll.
 */
import { tcError } from "../errors";
import { AbstractWaitStrategy, type ContainerHandle, type WaitStrategy } from "./wait-strategy";

export class CompositeWaitStrategy extends AbstractWaitStrategy {
  private deadlineMs: number | undefined;

  constructor(private readonly strategies: WaitStrategy[]) {
    super();
  }

  get expectsExit(): boolean {
    return this.strategies.some((s) => s.expectsExit);
  }

  withDeadline(ms: number): this {
    this.deadlineMs = ms;
    return this;
  }

  /** Children without their own timeout inherit this one. */
  override withStartupTimeout(ms: number): this {
    super.withStartupTimeout(ms);
    for (const s of this.strategies) if (s.getStartupTimeout() === undefined) s.withStartupTimeout(ms);
    return this;
  }

  override getStartupTimeout(): number | undefined {
    return this.deadlineMs ?? this.startupTimeoutMs;
  }

  describe(): string {
    return `all of (${this.strategies.map((s) => s.describe()).join(", ")})`;
  }

  async waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      await Promise.all(this.strategies.map((s) => this.runChild(s, container, controller)));
    } finally {
      signal.removeEventListener("abort", onAbort);
      controller.abort();
    }
  }

  private async runChild(s: WaitStrategy, container: ContainerHandle, controller: AbortController): Promise<void> {
    const limit = s.getStartupTimeout();
    if (limit === undefined) return s.waitUntilReady(container, controller.signal);
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(tcError("TC_ERR_WAIT_TIMEOUT", `${s.describe()} was not ready after ${limit}ms`)), limit);
    });
    try {
      await Promise.race([s.waitUntilReady(container, controller.signal), timeout]);
    } catch (err) {
      controller.abort();
      throw err;
    } finally {
      clearTimeout(t);
    }
  }
}
