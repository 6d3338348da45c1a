/**
 * A running container: ports, exec, logs, stop, and `await using` support.
 */
import "../polyfill";
import type { Readable } from "node:stream";
import { invalidArgument, tcError } from "../errors";
import type { ContainerSpec, ExecProcess, ExecResult, LogOptions, RuntimeContainer } from "../runtime/runtime";
import type { HealthCheck } from "../wait/wait-strategy";
import type { ContainerOptions } from "./container-options";
import { portKey } from "./port-spec";
import { StoppedContainer } from "./stopped-container";

export interface ExecOptions {
  workingDir: string;
  user: string;
  env: Record<string, string>;
  /** Data for the command's standard input (a testcell addition). */
  stdin: string | Buffer | Readable;
}

export interface StopOptions {
  /** Grace period in ms between the stop signal and SIGKILL (default 0, as testcontainers). */
  timeout: number;
  /** Remove the container's state after it stopped (default: withAutoRemove, true). */
  remove: boolean;
  /** Accepted for testcontainers compatibility; anonymous volumes go with the container. */
  removeVolumes: boolean;
}

/** What hooks and getters know about a container (testcontainers passes Docker's inspect). */
export interface ContainerInfo {
  id: string;
  name: string;
  hostname: string;
  image: string;
  labels: Record<string, string>;
  healthCheck?: HealthCheck;
  /** User-defined networks joined, with the container's address in each. */
  networks?: Array<{ network: string; address: string }>;
}

/** The public surface of a started container, shared by StartedContainer and module containers. */
export interface StartedTestContainer extends AsyncDisposable {
  getId(): string;
  getName(): string;
  getHostname(): string;
  getLabels(): Record<string, string>;
  getImage(): string;
  getHost(): string;
  getMappedPort(port: number | string, protocol?: "tcp" | "udp"): number;
  getFirstMappedPort(): number;
  getNetworkNames(): string[];
  getIpAddress(networkName: string): string;
  exec(command: string | string[], options?: Partial<ExecOptions>): Promise<ExecResult>;
  execStream(command: string[], options?: Partial<ExecOptions>): Promise<ExecProcess>;
  restart(options?: { timeout?: number }): Promise<void>;
  pause(): Promise<void>;
  unpause(): Promise<void>;
  logs(options?: LogOptions): Promise<Readable>;
  stop(options?: Partial<StopOptions>): Promise<StoppedContainer>;
}

/** Starts the same container again on its kept root file system, and waits until it is ready. */
export type Restarter = (previous: RuntimeContainer) => Promise<RuntimeContainer>;

export class StartedContainer implements StartedTestContainer {
  private stopped: Promise<StoppedContainer> | undefined;
  private restarter: Restarter | undefined;

  constructor(
    private container: RuntimeContainer,
    private readonly spec: ContainerSpec,
    private readonly options: Readonly<ContainerOptions>,
    private readonly info: ContainerInfo,
    private readonly onStopped: () => void | Promise<void> = () => undefined,
  ) {}

  getId(): string {
    return this.spec.id;
  }

  /** The name given with withName, else the short id. */
  getName(): string {
    return this.info.name;
  }

  getHostname(): string {
    return this.spec.hostname;
  }

  /** The image's labels merged with withLabels. */
  getLabels(): Record<string, string> {
    return { ...this.info.labels };
  }

  /** The canonical reference of the image it runs. */
  getImage(): string {
    return this.spec.image;
  }

  /** Names of the user-defined networks it joined. */
  getNetworkNames(): string[] {
    return (this.info.networks ?? []).map((n) => n.network);
  }

  /** Its address in a user-defined network. */
  getIpAddress(networkName: string): string {
    const n = (this.info.networks ?? []).find((x) => x.network === networkName);
    if (!n) throw tcError("TC_ERR_INVALID_ARGUMENT", `container ${this.spec.id.slice(0, 12)} is not on network "${networkName}"; it is on: ${this.getNetworkNames().join(", ") || "none"}`);
    return n.address;
  }

  /** Where mapped ports are reachable: always the loopback address, 127.0.0.1. */
  getHost(): string {
    return "127.0.0.1";
  }

  /** The host port for a container port: `getMappedPort(6379)`, `getMappedPort("53/udp")`. */
  getMappedPort(port: number | string, protocol: "tcp" | "udp" = "tcp"): number {
    const key = portKey(port, protocol);
    const host = this.container.mappedPorts.get(key);
    if (host === undefined) {
      const known = [...this.container.mappedPorts.keys()].join(", ") || "none";
      throw tcError("TC_ERR_NO_PORT_BINDING", `No port binding found for ${key} in container ${this.spec.id.slice(0, 12)} (${this.spec.image}); exposed: ${known}. Add it with withExposedPorts()`);
    }
    return host;
  }

  /** The host port of the first exposed port. */
  getFirstMappedPort(): number {
    const first = this.container.mappedPorts.values().next();
    if (first.done) throw tcError("TC_ERR_NO_PORT_BINDING", `container ${this.spec.id.slice(0, 12)} (${this.spec.image}) exposes no ports; add them with withExposedPorts()`);
    return first.value;
  }

  /** Runs a command in the container; a string is split on spaces, as testcontainers does. */
  exec(command: string | string[], options: Partial<ExecOptions> = {}): Promise<ExecResult> {
    const argv = typeof command === "string" ? command.split(" ").filter(Boolean) : command;
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === "string")) {
      throw invalidArgument("exec", "a command string or a non-empty array of strings", command);
    }
    return this.container.exec(argv, options);
  }

  /** Starts a command and streams its output as it comes: `{ stdout, stderr, exitCode }`. */
  execStream(command: string[], options: Partial<ExecOptions> = {}): Promise<ExecProcess> {
    if (!Array.isArray(command) || command.length === 0) throw invalidArgument("execStream", "a non-empty array of strings", command);
    return this.container.execStream(command, options);
  }

  /**
   * The container's output, following until it exits (as testcontainers). `since` (UNIX seconds)
   * and `tail` (last n lines) as Docker's; `stdout`/`stderr` pick one stream (both by default).
   */
  async logs(options: LogOptions = {}): Promise<Readable> {
    return this.container.logs(options);
  }

  /** @internal set by GenericContainer */
  setRestarter(restarter: Restarter): void {
    this.restarter = restarter;
  }

  /**
   * Stops the container (stop signal, SIGKILL after `timeout` ms) and starts it again with the
   * same root file system, ports and settings, then runs the wait strategy again.
   */
  async restart(options: { timeout?: number } = {}): Promise<void> {
    if (this.stopped) throw tcError("TC_ERR_CONTAINER_NOT_RUNNING", `container ${this.spec.id.slice(0, 12)} was stopped; start a new one`);
    if (!this.restarter) throw tcError("TC_ERR_RUNTIME", "this container cannot be restarted (reattached containers cannot)");
    await this.container.stop(options.timeout ?? 0);
    this.container = await this.restarter(this.container);
  }

  /** Freezes every process of the container (cgroup freezer); unpause() thaws them. */
  async pause(): Promise<void> {
    await this.container.pause();
  }

  async unpause(): Promise<void> {
    await this.container.resume();
  }

  /** Hook for subclasses: runs before the container is stopped. */
  protected async containerStopping(): Promise<void> {}
  /** Hook for subclasses: runs after the container has stopped. */
  protected async containerStopped(): Promise<void> {}

  /** Stops (stop signal, then SIGKILL after `timeout` ms) and removes it; safe to call twice. */
  stop(options: Partial<StopOptions> = {}): Promise<StoppedContainer> {
    this.stopped ??= (async () => {
      await this.containerStopping();
      const exit = await this.container.stop(options.timeout ?? 0);
      if (options.remove ?? this.options.autoRemove) await this.container.remove();
      await this.onStopped();
      await this.containerStopped();
      return new StoppedContainer(this.spec.id, exit);
    })();
    return this.stopped;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Base for module containers (PostgreSqlContainer, ...): delegates everything to a started container. */
export class AbstractStartedContainer implements StartedTestContainer {
  constructor(protected readonly startedTestContainer: StartedTestContainer) {}
  getId(): string { return this.startedTestContainer.getId(); }
  getName(): string { return this.startedTestContainer.getName(); }
  getHostname(): string { return this.startedTestContainer.getHostname(); }
  getLabels(): Record<string, string> { return this.startedTestContainer.getLabels(); }
  getImage(): string { return this.startedTestContainer.getImage(); }
  getHost(): string { return this.startedTestContainer.getHost(); }
  getMappedPort(port: number | string, protocol: "tcp" | "udp" = "tcp"): number { return this.startedTestContainer.getMappedPort(port, protocol); }
  getFirstMappedPort(): number { return this.startedTestContainer.getFirstMappedPort(); }
  getNetworkNames(): string[] { return this.startedTestContainer.getNetworkNames(); }
  getIpAddress(networkName: string): string { return this.startedTestContainer.getIpAddress(networkName); }
  exec(command: string | string[], options: Partial<ExecOptions> = {}): Promise<ExecResult> { return this.startedTestContainer.exec(command, options); }
  logs(options: LogOptions = {}): Promise<Readable> { return this.startedTestContainer.logs(options); }
  execStream(command: string[], options: Partial<ExecOptions> = {}): Promise<ExecProcess> { return this.startedTestContainer.execStream(command, options); }
  restart(options: { timeout?: number } = {}): Promise<void> { return this.startedTestContainer.restart(options); }
  pause(): Promise<void> { return this.startedTestContainer.pause(); }
  unpause(): Promise<void> { return this.startedTestContainer.unpause(); }
  /** Hook for subclasses: runs before the container is stopped. */
  protected async containerStopping(): Promise<void> {}
  /** Hook for subclasses: runs after the container has stopped. */
  protected async containerStopped(): Promise<void> {}
  async stop(options: Partial<StopOptions> = {}): Promise<StoppedContainer> {
    await this.containerStopping();
    const stopped = await this.startedTestContainer.stop(options);
    await this.containerStopped();
    return stopped;
  }
  async [Symbol.asyncDispose](): Promise<void> { await this.stop(); }
}
