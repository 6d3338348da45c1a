/**
 * The one facade for wait strategies, named as in testcontainers.
 */
import { CompositeWaitStrategy } from "./composite-wait-strategy";
import { HealthCheckWaitStrategy } from "./health-check-wait-strategy";
import { HostPortWaitStrategy } from "./host-port-wait-strategy";
import { HttpWaitStrategy } from "./http-wait-strategy";
import { LogWaitStrategy } from "./log-wait-strategy";
import { OneShotStartupWaitStrategy } from "./one-shot-wait-strategy";
import { ShellWaitStrategy } from "./shell-wait-strategy";
import { StartedWaitStrategy, type WaitStrategy } from "./wait-strategy";

export const Wait = {
  /** Ready when a line of output matches `message` (substring or RegExp), `times` times. */
  forLogMessage(message: string | RegExp, times = 1): LogWaitStrategy {
    return new LogWaitStrategy(message, times);
  },
  /** Ready when every published TCP port listens inside the container and answers on the host. */
  forListeningPorts(): HostPortWaitStrategy {
    return new HostPortWaitStrategy();
  },
  /** Ready when an HTTP request to `path` on the published `port` answers 2xx (configurable). */
  forHttp(path: string, port: number | string): HttpWaitStrategy {
    return new HttpWaitStrategy(path, port);
  },
  /** Ready when the health check (withHealthCheck, or the image's HEALTHCHECK) passes. */
  forHealthCheck(): HealthCheckWaitStrategy {
    return new HealthCheckWaitStrategy();
  },
  /** Ready when `/bin/sh -c command` exits 0 inside the container. */
  forSuccessfulCommand(command: string): ShellWaitStrategy {
    return new ShellWaitStrategy(command);
  },
  /** Ready when the container has exited with code 0. */
  forOneShotStartup(): OneShotStartupWaitStrategy {
    return new OneShotStartupWaitStrategy();
  },
  /** Ready when all the given strategies are. */
  forAll(strategies: WaitStrategy[]): CompositeWaitStrategy {
    return new CompositeWaitStrategy(strategies);
  },
  /** Ready as soon as the container's command runs. */
  forStartup(): StartedWaitStrategy {
    return new StartedWaitStrategy();
  },
};
