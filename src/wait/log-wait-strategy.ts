/**
 * Waits until the container's output holds a line matching a string (substring) or a RegExp,
 * `times` times, following the log files as they grow.
 */
import { tcError } from "../errors";
import { AbstractWaitStrategy, type ContainerHandle } from "./wait-strategy";

export class LogWaitStrategy extends AbstractWaitStrategy {
  constructor(
    private readonly message: string | RegExp,
    private readonly times = 1,
  ) {
    super();
  }

  describe(): string {
    const what = typeof this.message === "string" ? JSON.stringify(this.message) : String(this.message);
    return `log message ${what}${this.times > 1 ? ` x${this.times}` : ""}`;
  }

  /** Counts matching lines from the start of the output; fails if the output ends first. */
  async waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void> {
    const stream = container.logs({ follow: true });
    const abort = () => stream.destroy();
    signal.addEventListener("abort", abort, { once: true });
    let seen = 0;
    let buffered = "";
    try {
      for await (const chunk of stream) {
        buffered += chunk as string;
        const lines = buffered.split("\n");
        buffered = lines.pop()!;
        for (const line of lines) if (this.matches(line) && ++seen >= this.times) return;
      }
      if (buffered && this.matches(buffered) && ++seen >= this.times) return;
      if (signal.aborted) return;
      throw tcError("TC_ERR_CONTAINER_EXITED", `the output ended after ${seen} of ${this.times} matches of ${this.describe()}`);
    } finally {
      signal.removeEventListener("abort", abort);
      stream.destroy();
    }
  }

  private matches(line: string): boolean {
    if (typeof this.message === "string") return line.includes(this.message);
    this.message.lastIndex = 0;
    return this.message.test(line);
  }
}
