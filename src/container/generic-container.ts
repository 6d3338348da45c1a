/**
 * The builder users start from, with testcontainers' `withX(): this` names and its rules for
 * which calls accumulate (environment, labels, ports, copies, tmpfs) and which replace.
 */
import fs from "node:fs";
import type { Readable } from "node:stream";
import { invalidArgument, isTestcellError, tcError } from "../errors";
import { getDefaultContext, type TestcellContext } from "../context";
import type { ResolvedImage } from "../image/image-service";
import type { RuntimeContainer } from "../runtime/runtime";
import type { HealthCheck, WaitStrategy } from "../wait/wait-strategy";
import { Wait } from "../wait/wait";
import { waitForContainer } from "../wait/wait-for-container";
import { snapshot, type ContainerOptions } from "./container-options";
import { buildSpec } from "./container-spec";
import { parsePort, type PortWithOptionalBinding } from "./port-spec";
import type { PullPolicy } from "./pull-policy";
import { StartedContainer, type ContainerInfo, type StartedTestContainer } from "./started-container";

const DEFAULT_STARTUP_TIMEOUT_MS = 60_000;

function stringArray(what: string, value: unknown): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) throw invalidArgument(what, "an array of strings", value);
  return [...value];
}

function stringRecord(what: string, value: unknown): Record<string, string> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalidArgument(what, "an object of strings", value);
  for (const [k, v] of Object.entries(value)) if (typeof v !== "string") throw invalidArgument(`${what} (${k})`, "a string value", v);
  return value as Record<string, string>;
}

export interface FileToCopy { source: string; target: string; mode?: number }
export interface DirectoryToCopy { source: string; target: string; mode?: number }
export interface ContentToCopy { content: string | Buffer | Readable; target: string; mode?: number }

export class GenericContainer {
  protected options: ContainerOptions;

  constructor(image: string, private readonly context?: TestcellContext) {
    if (typeof image !== "string" || image.trim() === "") throw invalidArgument("GenericContainer(image)", "an image name such as `redis:7`", image);
    this.options = { image: image.trim(), environment: {}, labels: {}, exposedPorts: [], copies: [], pullPolicy: "missing", autoRemove: true, logConsumers: [] };
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
    for (const k of Object.keys(stringRecord("withEnvironment", environment))) {
      if (k === "" || k.includes("=")) throw invalidArgument("withEnvironment", "names without `=`", k);
    }
    Object.assign(this.options.environment, environment);
    return this;
  }

  /** Adds labels; later calls add to earlier ones. */
  withLabels(labels: Record<string, string>): this {
    Object.assign(this.options.labels, stringRecord("withLabels", labels));
    return this;
  }

  /** Names the container; a name in use by another running container of this process is an error. */
  withName(name: string): this {
    if (typeof name !== "string" || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw invalidArgument("withName", "a name matching [a-zA-Z0-9][a-zA-Z0-9_.-]*", name);
    this.options.name = name;
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
    if (typeof user !== "string") throw invalidArgument("withUser", "a user such as `postgres` or `999:999`", user);
    this.options.user = user;
    return this;
  }

  withWorkingDir(workingDir: string): this {
    if (typeof workingDir !== "string" || !workingDir.startsWith("/")) throw invalidArgument("withWorkingDir", "an absolute path", workingDir);
    this.options.workingDir = workingDir;
    return this;
  }

  withHostname(hostname: string): this {
    if (typeof hostname !== "string" || !/^[a-zA-Z0-9][a-zA-Z0-9.-]{0,62}$/.test(hostname)) throw invalidArgument("withHostname", "a host name", hostname);
    this.options.hostname = hostname;
    return this;
  }

  /** Pulls and runs the image for a platform such as `linux/arm64`. */
  withPlatform(platform: string): this {
    if (typeof platform !== "string" || !/^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/.test(platform)) throw invalidArgument("withPlatform", "a platform such as `linux/amd64`", platform);
    this.options.platform = platform;
    return this;
  }

  /** A health check (durations in ms); also makes Wait.forHealthCheck the default wait. */
  withHealthCheck(healthCheck: HealthCheck): this {
    if (!healthCheck || !Array.isArray(healthCheck.test) || healthCheck.test.length === 0) throw invalidArgument("withHealthCheck", '{ test: ["CMD-SHELL", "..."], interval?, timeout?, retries?, startPeriod? }', healthCheck);
    this.options.healthCheck = { ...healthCheck, test: [...healthCheck.test] };
    return this;
  }

  withWaitStrategy(waitStrategy: WaitStrategy): this {
    if (!waitStrategy || typeof waitStrategy.waitUntilReady !== "function") throw invalidArgument("withWaitStrategy", "a wait strategy such as Wait.forLogMessage(...)", waitStrategy);
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

  /** Gets the container's output stream (following) right after it starts. */
  withLogConsumer(consumer: (stream: Readable) => unknown): this {
    if (typeof consumer !== "function") throw invalidArgument("withLogConsumer", "a function (stream) => void", consumer);
    this.options.logConsumers.push(consumer);
    return this;
  }

  /** Copies host files into the container before it starts (owned by root). */
  withCopyFilesToContainer(files: FileToCopy[]): this {
    for (const f of files) this.options.copies.push({ target: f.target, source: { path: f.source }, mode: f.mode });
    return this;
  }

  /** Copies host directories (recursively) into the container before it starts. */
  withCopyDirectoriesToContainer(dirs: DirectoryToCopy[]): this {
    for (const d of dirs) {
      if (!fs.statSync(d.source, { throwIfNoEntry: false })?.isDirectory()) throw invalidArgument("withCopyDirectoriesToContainer source", "an existing directory", d.source);
      this.options.copies.push({ target: d.target, source: { path: d.source }, mode: d.mode });
    }
    return this;
  }

  /** Writes content (string, Buffer or a Readable, read at start) into the container before it starts. */
  withCopyContentToContainer(contents: ContentToCopy[]): this {
    for (const c of contents) {
      if (typeof c.content === "string" || Buffer.isBuffer(c.content)) {
        this.options.copies.push({ target: c.target, source: { content: Buffer.from(c.content) }, mode: c.mode });
      } else {
        this.pendingStreams.push({ target: c.target, stream: c.content, mode: c.mode });
      }
    }
    return this;
  }

  private pendingStreams: Array<{ target: string; stream: Readable; mode?: number }> = [];

  /** Hook for subclasses: runs before anything is pulled or created. */
  protected async beforeContainerCreated(): Promise<void> {}
  /** Hook for subclasses: the container exists (its id is known) but has not started. */
  protected async containerCreated(_containerId: string): Promise<void> {}
  /** Hook for subclasses: the container's command runs; the wait strategy has not run yet. */
  protected async containerStarting(_info: ContainerInfo, _reused: boolean): Promise<void> {}
  /** Hook for subclasses: the container is ready. */
  protected async containerStarted(_container: StartedTestContainer, _info: ContainerInfo, _reused: boolean): Promise<void> {}

  /** Pulls the image if needed, starts the container and waits until it is ready. */
  async start(options: { signal?: AbortSignal } = {}): Promise<StartedTestContainer> {
    await this.beforeContainerCreated();
    await this.drainStreams();
    const o = snapshot(this.options);
    const ctx = this.context ?? getDefaultContext();
    const image = await ctx.images.ensure(o.image, { pullPolicy: o.pullPolicy, platform: o.platform, signal: options.signal });
    const spec = await buildSpec(o, image);
    claimName(o.name, spec.id);
    let container: RuntimeContainer | undefined;
    try {
      await this.containerCreated(spec.id);
      container = await ctx.runtime.start(spec, { signal: options.signal });
      const healthCheck = o.healthCheck ?? imageHealthCheck(image);
      const info: ContainerInfo = { id: spec.id, name: o.name ?? spec.id.slice(0, 12), hostname: spec.hostname, image: spec.image, labels: { ...image.config.Labels, ...o.labels }, healthCheck };
      for (const consumer of o.logConsumers) consumer(container.logs({ follow: true }));
      await this.containerStarting(info, false);
      const strategy = o.waitStrategy ?? defaultWaitStrategy(o, image);
      const timeout = o.startupTimeoutMs ?? strategy.getStartupTimeout() ?? DEFAULT_STARTUP_TIMEOUT_MS;
      await waitForContainer({ ...handle(container), healthCheck }, strategy, timeout, spec.image, options.signal);
      const started = new StartedContainer(container, spec, o, info, () => releaseName(o.name, spec.id));
      await this.containerStarted(started, info, false);
      return started;
    } catch (err) {
      const primary = isTestcellError(err) ? err : tcError("TC_ERR_RUNTIME", String((err as Error)?.message ?? err), { cause: err });
      const c = container;
      for (const step of c ? [() => c.stop(0), () => c.remove()] : []) {
        try {
          await step();
        } catch (cleanupError) {
          primary.cleanupErrors.push(cleanupError);
        }
      }
      releaseName(o.name, spec.id);
      throw primary;
    }
  }

  /** Reads Readable contents given to withCopyContentToContainer, once. */
  private async drainStreams(): Promise<void> {
    for (const p of this.pendingStreams.splice(0)) {
      const chunks: Buffer[] = [];
      for await (const chunk of p.stream) chunks.push(Buffer.from(chunk as Buffer));
      this.options.copies.push({ target: p.target, source: { content: Buffer.concat(chunks) }, mode: p.mode });
    }
  }
}

/** The runtime container's members a wait strategy sees (getters are kept live). */
function handle(c: RuntimeContainer) {
  return { id: c.id, pid: c.pid, mappedPorts: c.mappedPorts, exited: c.exited, exitInfo: () => c.exitInfo(), exec: c.exec.bind(c), logs: c.logs.bind(c), lastLogLines: c.lastLogLines.bind(c) };
}

/** The image's HEALTHCHECK in ms, if it has one (NONE counts as none). */
function imageHealthCheck(image: ResolvedImage): HealthCheck | undefined {
  const hc = image.config.Healthcheck;
  if (!hc?.Test?.length || hc.Test[0] === "NONE") return undefined;
  const ms = (ns: number | undefined) => (ns ? ns / 1e6 : undefined);
  return { test: hc.Test, interval: ms(hc.Interval), timeout: ms(hc.Timeout), retries: hc.Retries, startPeriod: ms(hc.StartPeriod) };
}

/** testcontainers' order: withHealthCheck, then the image's HEALTHCHECK, else listening ports. */
function defaultWaitStrategy(o: Readonly<ContainerOptions>, image: ResolvedImage): WaitStrategy {
  if (o.healthCheck) return Wait.forHealthCheck();
  if (imageHealthCheck(image)) return Wait.forHealthCheck();
  return Wait.forListeningPorts();
}

const namesInUse = new Map<string, string>();

function claimName(name: string | undefined, id: string): void {
  if (!name) return;
  const holder = namesInUse.get(name);
  if (holder && holder !== id) throw tcError("TC_ERR_INVALID_ARGUMENT", `the container name "${name}" is already in use by container ${holder.slice(0, 12)}: stop it first or choose another name`);
  namesInUse.set(name, id);
}

function releaseName(name: string | undefined, id: string): void {
  if (name && namesInUse.get(name) === id) namesInUse.delete(name);
}
