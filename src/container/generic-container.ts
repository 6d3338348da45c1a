/**
 * The builder users start from, with testcontainers' `withX(): this` names and its rules for
 * which calls accumulate (environment, labels, ports, copies, tmpfs) and which replace.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import { invalidArgument, isTestcellError, tcError } from "../errors";
import { getDefaultContext, type TestcellContext } from "../context";
import type { ResolvedImage } from "../image/image-service";
import { acquireFileLock } from "../image/file-lock";
import type { ContainerSpec, RuntimeContainer } from "../runtime/runtime";
import type { HealthCheck, WaitStrategy } from "../wait/wait-strategy";
import { findNetwork } from "../network/network";
import { joinNetworks, leaveNetworks, type Membership } from "../network/join-networks";
import { Wait } from "../wait/wait";
import { waitForContainer } from "../wait/wait-for-container";
import { snapshot, type ContainerOptions } from "./container-options";
import { capabilityName, buildSpec } from "./container-spec";
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
    this.options = {
      image: image.trim(), environment: {}, labels: {}, exposedPorts: [], copies: [], pullPolicy: "missing", autoRemove: true, logConsumers: [],
      bindMounts: [], tmpfs: {}, ulimits: {}, privileged: false, capAdd: [], capDrop: [], resources: {}, reuse: false, autoCleanup: true,
      networks: [], networkAliases: [], extraHosts: [],
    };
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

  /** Bind-mounts host paths (mode "rw" by default, or "ro"); replaces earlier calls, as testcontainers. */
  withBindMounts(mounts: Array<{ source: string; target: string; mode?: "rw" | "ro" | "z" | "Z" }>): this {
    this.options.bindMounts = mounts.map((m) => {
      if (!m.source?.startsWith("/") || !m.target?.startsWith("/")) throw invalidArgument("withBindMounts", "absolute source and target paths", m);
      if (!fs.existsSync(m.source)) throw invalidArgument("withBindMounts source", "an existing host path", m.source);
      return { source: m.source, target: m.target, readOnly: m.mode === "ro" };
    });
    return this;
  }

  /** Mounts tmpfs file systems: `{ "/scratch": "size=64m" }`; accumulates. */
  withTmpFs(tmpfs: Record<string, string>): this {
    for (const [target, opts] of Object.entries(stringRecord("withTmpFs", tmpfs))) {
      if (!target.startsWith("/")) throw invalidArgument("withTmpFs", "absolute target paths", target);
      this.options.tmpfs[target] = opts;
    }
    return this;
  }

  /** A named volume at `target`: it outlives the container and can be shared by several. */
  withVolume(volume: { getPath(): string }, target: string, mode: "rw" | "ro" = "rw"): this {
    if (!target.startsWith("/")) throw invalidArgument("withVolume", "an absolute target path", target);
    this.options.bindMounts.push({ source: volume.getPath(), target, readOnly: mode === "ro" });
    return this;
  }

  /** rlimits: `{ nofile: { soft: 1024, hard: 4096 } }` (clamped to what the host allows, with a warning). */
  withUlimits(ulimits: Record<string, { hard: number; soft: number }>): this {
    for (const [name, l] of Object.entries(ulimits)) {
      if (!Number.isInteger(l?.soft) || !Number.isInteger(l?.hard) || l.soft > l.hard && l.hard !== -1) throw invalidArgument(`withUlimits (${name})`, "{ soft, hard } integers with soft <= hard (-1 = unlimited)", l);
      this.options.ulimits[name] = { soft: l.soft, hard: l.hard };
    }
    return this;
  }

  /** All capabilities, no seccomp filter, no masked paths: as `docker run --privileged`. */
  withPrivilegedMode(privileged = true): this {
    this.options.privileged = privileged;
    return this;
  }

  withAddedCapabilities(...capabilities: string[]): this {
    this.options.capAdd.push(...capabilities.map(capabilityName));
    return this;
  }

  withDroppedCapabilities(...capabilities: string[]): this {
    this.options.capDrop.push(...capabilities.map(capabilityName));
    return this;
  }

  /** Memory in GB and CPUs, as testcontainers; `pids` (a testcell addition) limits the number of processes. */
  withResourcesQuota(quota: { memory?: number; cpu?: number; pids?: number }): this {
    const r = this.options.resources;
    if (quota.memory !== undefined) {
      if (!(quota.memory > 0)) throw invalidArgument("withResourcesQuota memory", "a number of GB > 0", quota.memory);
      r.memoryBytes = Math.round(quota.memory * 1024 ** 3);
    }
    if (quota.cpu !== undefined) {
      if (!(quota.cpu > 0)) throw invalidArgument("withResourcesQuota cpu", "a number of CPUs > 0", quota.cpu);
      r.cpuPeriodUs = 100_000;
      r.cpuQuotaUs = Math.round(quota.cpu * 100_000);
    }
    if (quota.pids !== undefined) {
      if (!Number.isInteger(quota.pids) || quota.pids < 1) throw invalidArgument("withResourcesQuota pids", "an integer >= 1", quota.pids);
      r.pids = quota.pids;
    }
    return this;
  }

  /** Size of /dev/shm in bytes (default 64 MiB). */
  withSharedMemorySize(bytes: number): this {
    if (!Number.isInteger(bytes) || bytes < 4096) throw invalidArgument("withSharedMemorySize", "a number of bytes >= 4096", bytes);
    this.options.resources.shmBytes = bytes;
    return this;
  }

  /** Reuses a running container with the same spec, across processes and test workers. */
  withReuse(reuse = true): this {
    this.options.reuse = reuse;
    return this;
  }

  /** With false, the container outlives the test process (remove it yourself or with `testcell prune`). */
  withAutoCleanup(autoCleanup: boolean): this {
    this.options.autoCleanup = autoCleanup;
    return this;
  }

  /** Joins a user-defined network (and uses it as the network mode, as testcontainers). */
  withNetwork(network: { getName(): string }): this {
    if (!this.options.networks.includes(network.getName())) this.options.networks.push(network.getName());
    this.options.networkMode ??= network.getName();
    return this;
  }

  /** "host", "none", "bridge" (the default: an own namespace) or the name of a network. */
  withNetworkMode(networkMode: string): this {
    if (typeof networkMode !== "string" || !networkMode) throw invalidArgument("withNetworkMode", '"host", "none", "bridge" or a network name', networkMode);
    this.options.networkMode = networkMode;
    if (!["host", "none", "bridge"].includes(networkMode) && !this.options.networks.includes(networkMode)) this.options.networks.push(networkMode);
    return this;
  }

  /** Names other members of the container's networks reach it by; accumulates. */
  withNetworkAliases(...aliases: string[]): this {
    this.options.networkAliases.push(...aliases);
    return this;
  }

  /** Extra /etc/hosts entries; accumulates. */
  withExtraHosts(extraHosts: Array<{ host: string; ipAddress: string }>): this {
    this.options.extraHosts.push(...extraHosts.map((h) => ({ host: h.host, ipAddress: h.ipAddress })));
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
    if (o.reuse && ctx.runtime.reattach) {
      const key = reuseKey(o, image);
      fs.mkdirSync(path.join(ctx.config.stateDir, "reuse"), { recursive: true });
      const lock = await acquireFileLock(path.join(ctx.config.stateDir, "reuse", `${key}.lock`), { signal: options.signal });
      try {
        const found = await ctx.runtime.reattach(key);
        if (found) return await this.ready(ctx, o, image, found.spec, found, true, options.signal);
        return await this.create(ctx, o, image, options.signal, key);
      } finally {
        await lock.release();
      }
    }
    return this.create(ctx, o, image, options.signal);
  }

  /** Creates and starts a new container, then waits for it. */
  private async create(ctx: TestcellContext, o: Readonly<ContainerOptions>, image: ResolvedImage, signal?: AbortSignal, key?: string): Promise<StartedTestContainer> {
    const spec = await buildSpec(o, image);
    claimName(o.name, spec.id);
    let container: RuntimeContainer | undefined;
    let memberships: Membership[] = [];
    try {
      const networks = o.networkMode === "host" || o.networkMode === "none" ? [] : o.networks;
      memberships = await joinNetworks(ctx.config, spec, networks, [spec.hostname, ...(o.name ? [o.name] : []), ...o.networkAliases]);
      await this.containerCreated(spec.id);
      container = await ctx.runtime.start(spec, { signal, reuseKey: key });
      return await this.ready(ctx, o, image, spec, container, false, signal, memberships);
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
      await leaveNetworks(ctx.config, spec.id, memberships).catch((e) => primary.cleanupErrors.push(e));
      throw primary;
    }
  }

  /** Runs the wait strategy on a running container and hands out the started container. */
  private async ready(
    ctx: TestcellContext,
    o: Readonly<ContainerOptions>,
    image: ResolvedImage,
    spec: ContainerSpec,
    container: RuntimeContainer,
    reused: boolean,
    signal?: AbortSignal,
    memberships: Membership[] = networkMembershipsOf(ctx, spec.id),
  ): Promise<StartedTestContainer> {
    const healthCheck = o.healthCheck ?? imageHealthCheck(image);
    const info: ContainerInfo = { id: spec.id, name: o.name ?? spec.id.slice(0, 12), hostname: spec.hostname, image: spec.image, labels: { ...image.config.Labels, ...o.labels }, healthCheck };
    for (const consumer of o.logConsumers) consumer(container.logs({ follow: true }));
    await this.containerStarting(info, reused);
    const strategy = o.waitStrategy ?? defaultWaitStrategy(o, image);
    const timeout = o.startupTimeoutMs ?? strategy.getStartupTimeout() ?? DEFAULT_STARTUP_TIMEOUT_MS;
    await waitForContainer({ ...handle(container), healthCheck }, strategy, timeout, spec.image, signal);
    const onStopped = async () => {
      releaseName(o.name, spec.id);
      await leaveNetworks(ctx.config, spec.id, memberships);
    };
    const started = new StartedContainer(container, spec, o, { ...info, networks: memberships }, onStopped);
    if (!reused) {
      started.setRestarter(async (previous) => {
        // the same host ports again, the same root file system (the state dir is kept)
        const again: ContainerSpec = { ...spec, ports: spec.ports.map((p) => ({ ...p, host: previous.mappedPorts.get(`${p.container}/${p.protocol}`) ?? p.host })) };
        const next = await ctx.runtime.start(again);
        await waitForContainer({ ...handle(next), healthCheck }, strategy, timeout, spec.image);
        return next;
      });
    }
    await this.containerStarted(started, info, reused);
    return started;
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

/** The reuse key: a hash of the whole spec (host config and copied content included) and the image digest. */
export function reuseKey(o: Readonly<ContainerOptions>, image: ResolvedImage): string {
  const { waitStrategy: _w, logConsumers: _l, startupTimeoutMs: _t, copies, ...rest } = o;
  const copied = copies.map((c) => ({ target: c.target, mode: c.mode, source: "content" in c.source ? crypto.createHash("sha256").update(c.source.content).digest("hex") : c.source.path }));
  return crypto.createHash("sha256").update(JSON.stringify({ ...rest, copied, manifest: image.manifestDigest })).digest("hex").slice(0, 32);
}

/** A reattached container's network memberships, from the networks' records. */
function networkMembershipsOf(ctx: TestcellContext, id: string): Membership[] {
  const dir = path.join(ctx.config.stateDir, "networks");
  const out: Membership[] = [];
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir).filter((x) => x.endsWith(".json")) : []) {
    const r = findNetwork(ctx.config, f.slice(0, -5));
    const m = r?.members.find((x) => x.containerId === id);
    if (r && m) out.push({ network: r.name, address: m.address });
  }
  return out;
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
