/**
 * What is left after stop(): the id and how the container ended.
 */
import type { ExitInfo } from "../runtime/runtime";

export class StoppedContainer {
  constructor(
    private readonly id: string,
    private readonly exit: ExitInfo,
  ) {}

  getId(): string {
    return this.id;
  }

  /** Exit code of the container's pid 1 (128 + signal when it was killed). */
  getExitCode(): number {
    return this.exit.exitCode;
  }

  wasOomKilled(): boolean {
    return this.exit.oomKilled;
  }
}
