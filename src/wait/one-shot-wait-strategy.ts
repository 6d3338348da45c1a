/**
 * Ready when the container has run to completion with exit code 0.
 */
import { tcError } from "../errors";
import { AbstractWaitStrategy, type ContainerHandle } from "./wait-strategy";

export class OneShotStartupWaitStrategy extends AbstractWaitStrategy {
  readonly expectsExit = true;

  describe(): string {
    return "one-shot exit 0";
  }

  async waitUntilReady(container: ContainerHandle): Promise<void> {
    const exit = await container.exited;
    if (exit.exitCode !== 0) {
      const lines = await container.lastLogLines(50);
      throw tcError("TC_ERR_CONTAINER_EXITED", `one-shot container ${container.id.slice(0, 12)} failed with exit code ${exit.exitCode}${lines.length ? `\nlast ${lines.length} lines of output:\n${lines.map((l) => `  ${l}`).join("\n")}` : ""}`, {
        context: { containerId: container.id, exitCode: exit.exitCode },
      });
    }
  }
}
