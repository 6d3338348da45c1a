/**
 * The one facade for wait strategies, named as in testcontainers.
 */
import { HostPortWaitStrategy } from "./host-port-wait-strategy";
import { LogWaitStrategy } from "./log-wait-strategy";
import { StartedWaitStrategy, type WaitStrategy } from "./wait-strategy";

export const Wait = {
  /** Ready when a line of output matches `message` (substring or RegExp), `times` times. */
  forLogMessage(message: string | RegExp, times = 1): WaitStrategy {
    return new LogWaitStrategy(message, times);
  },
  /** Ready when every published TCP port listens inside the container and answers on the host. */
  forListeningPorts(): WaitStrategy {
    return new HostPortWaitStrategy();
  },
  /** Ready as soon as the container's command runs. */
  forStartup(): WaitStrategy {
    return new StartedWaitStrategy();
  },
};
