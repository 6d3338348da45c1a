/**
 * The builder users start from, with testcontainers' `withX(): this` names.
 */
import { invalidArgument, isTestcellError, tcError } from "../errors";
import { getDefaultContext, type TestcellContext } from "../context";
import type { WaitStrategy } from "../wait/wait-strategy";
import { Wait } from "../wait/wait";
import { waitForContainer } from "../wait/wait-for-container";
import { snapshot, type ContainerOptions } from "./container-options";
import { buildSpec } from "./container-spec";
import { StartedContainer } from "./started-container";
import type { PullPolicy } from "./pull-policy";
import { parsePort, type PortWithOptionalBinding } from "./port-spec";

const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;

function stringArray(what: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw invalidArgument(what, "an array of strings", value);
  return [...value];
}

export class GenericContainer {
  protected options: ContainerOptions;

  constructor(image: string, private readonly context?: TestcellContext) {
    if (typeof image !== "string" || image.trim() === "") throw invalidArgument("GenericContainer(image)", "an image name such as `redis:7`", image);
    this.options = { image: image.trim(), environment: {}, exposedPorts: [], pullPolicy: "missing", autoRemove: true };
  }

  /** Replaces the image's Cmd. */
  withCommand(command: string[]): this {
    this.options.command = stringArray("withCommand", command);
    return this;
  }

  /** Replaces the image's Entrypoint (and, as in Docker, drops its Cmd unless withCommand is used). */
  withEntrypoint(entrypoint: string[]): this {
    this.options.entrypoint = stringArray("withEntrypoint", entrypoint);
    return this;
  }

  /** Adds environment variables; later calls add to and override earlier ones. */
  withEnvironment(environment: Record<string, string>): this {
    if (typeof environment !== "object" || environment === null) throw invalidArgument("withEnvironment", "an object of strings", environment);
    for (const [k, v] of Object.entries(environment)) {
      if (typeof v !== "string") throw invalidArgument(`withEnvironment (${k})`, "a string value", v);
      if (k === "" || k.includes("=")) throw invalidArgument("withEnvironment", "names without `=`", k);
    }
    Object.assign(this.options.environment, environment);
    return this;
  }

  /** Publishes ports on 127.0.0.1: `6379`, `"53/udp"`, `{ container: 80, host: 8080 }`; accumulates. */
  withExposedPorts(...ports: PortWithOptionalBinding[]): this {
    for (const p of ports) {
      const b = parsePort(p);
      this.options.exposedPorts = this.options.exposedPorts.filter((e) => e.container !== b.container || e.protocol !== b.protocol);
      this.options.exposedPorts.push(b);
    }
    return this;
  }

  /** Runs the command as a user: "name", "uid", "name:group" or "uid:gid". */
  withUser(user: string): this {
    this.options.user = user;
    return this;
  }

  withWorkingDir(workingDir: string): this {
    if (!workingDir.startsWith("/")) throw invalidArgument("withWorkingDir", "an absolute path", workingDir);
    this.options.workingDir = workingDir;
    return this;
  }

  withHostname(hostname: string): this {
    this.options.hostname = hostname;
    return this;
  }

  withWaitStrategy(waitStrategy: WaitStrategy): this {
    this.options.waitStrategy = waitStrategy;
    return this;
  }

  /** How long the wait strategy may take, in ms (default 60 s). */
  withStartupTimeout(startupTimeoutMs: number): this {
    if (!Number.isFinite(startupTimeoutMs) || startupTimeoutMs < 0) throw invalidArgument("withStartupTimeout", "a number of milliseconds >= 0", startupTimeoutMs);
    this.options.startupTimeoutMs = startupTimeoutMs;
    return this;
  }

  withPullPolicy(policy: PullPolicy): this {
    this.options.pullPolicy = policy.shouldPull() ? "always" : "missing";
    return this;
  }

  /** Whether stop() removes the container's state by default (true). */
  withAutoRemove(autoRemove: boolean): this {
    this.options.autoRemove = autoRemove;
    return this;
  }

  /** Pulls the image if needed, starts the container and waits until it is ready. */
  async start(options: { signal?: AbortSignal } = {}): Promise<StartedContainer> {
    const o = snapshot(this.options);
    const ctx = this.context ?? getDefaultContext();
    const image = await ctx.images.ensure(o.image, { pullPolicy: o.pullPolicy, signal: options.signal });
    const spec = await buildSpec(o, image);
    const container = await ctx.runtime.start(spec, { signal: options.signal });
    const strategy = o.waitStrategy ?? Wait.forListeningPorts();
    const timeout = o.startupTimeoutMs ?? strategy.getStartupTimeout() ?? DEFAULT_STARTUP_TIMEOUT_MS;
    try {
      await waitForContainer(container, strategy, timeout, spec.image, options.signal);
    } catch (err) {
      const primary = isTestcellError(err) ? err : tcError("TC_ERR_RUNTIME", String((err as Error)?.message ?? err), { cause: err });
      for (const step of [() => container.stop(0), () => container.remove()]) {
        try {
          await step();
        } catch (cleanupError) {
          primary.cleanupErrors.push(cleanupError);
        }
      }
      throw primary;
    }
    return new StartedContainer(container, spec, o);
  }
}
