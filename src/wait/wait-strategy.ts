/**
 * Wait strategies decide when a started container is ready. They see testcell's own
 * `ContainerHandle`, never a transport type, so any runtime can host them.
 */
import type { RuntimeContainer } from "../runtime/runtime";

/** A health check as `withHealthCheck` takes it (durations in ms), or as read from the image. */
export interface HealthCheck {
  /** `["CMD", "pg_isready"]`, `["CMD-SHELL", "pg_isready -U test"]`, or `["NONE"]`. */
  test: string[];
  interval?: number;
  timeout?: number;
  retries?: number;
  startPeriod?: number;
}

/** What a wait strategy may use: the running container and its health check. */
export type ContainerHandle = Pick<RuntimeContainer, "id" | "pid" | "mappedPorts" | "exec" | "logs" | "lastLogLines" | "exited" | "exitInfo"> & {
  healthCheck?: HealthCheck;
};

export interface WaitStrategy {
  /** Resolves when the container is ready; should stop work when `signal` aborts. */
  waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void>;
  withStartupTimeout(ms: number): this;
  /** The startup timeout, if one was set on this strategy. */
  getStartupTimeout(): number | undefined;
  /** True when the container exiting is the expected outcome (one-shot), not a failure. */
  readonly expectsExit?: boolean;
  /** Words for error messages: "log message /ready/ x2". */
  describe(): string;
}

export abstract class AbstractWaitStrategy implements WaitStrategy {
  protected startupTimeoutMs: number | undefined;

  abstract waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void>;
  abstract describe(): string;

  withStartupTimeout(ms: number): this {
    this.startupTimeoutMs = ms;
    return this;
  }

  getStartupTimeout(): number | undefined {
    return this.startupTimeoutMs;
  }
}

/** Ready as soon as the command runs (the container has started). */
export class StartedWaitStrategy extends AbstractWaitStrategy {
  async waitUntilReady(): Promise<void> {}
  describe(): string {
    return "start";
  }
}
