/**
 * Ready when `/bin/sh -c <command>` exits 0 inside the container, as testcontainers'
 * Wait.forSuccessfulCommand.
 */
import { pollUntil } from "./poll";
import { AbstractWaitStrategy, type ContainerHandle } from "./wait-strategy";

export class ShellWaitStrategy extends AbstractWaitStrategy {
  constructor(private readonly command: string) {
    super();
  }

  describe(): string {
    return `command \`${this.command}\` to succeed`;
  }

  async waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void> {
    await pollUntil(async () => (await container.exec(["/bin/sh", "-c", this.command])).exitCode === 0, 50, signal);
  }
}
