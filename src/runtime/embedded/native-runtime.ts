/**
 * The embedded runtime: one native helper per container (native/PROTOCOL.md, mode `run`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import readline from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { Socket } from "node:net";
import createDebug from "debug";
import { tcError } from "../../errors";
import type { ContainerSpec, ExitInfo, Runtime } from "../runtime";
import { ChildSupervisor, EmbeddedContainer, shimClosed, type UserResolver } from "./embedded-container";
import { runRecord } from "./spec-record";
import { PidSupervisor, readReuseRecord, writeReuseRecord } from "./reattach";
import { writeCopies } from "./rootfs-writer";
import { assertShim, shimError, type ShimErrorEvent } from "./shim";
import { containerPaths, createStateDir, sweepStateDir } from "./state-dir";

const debug = createDebug("testcell:native");

type ShimEvent =
  | { event: "started"; pid: number }
  | { event: "port"; proto: "tcp" | "udp"; container: number; host: number }
  | ShimErrorEvent
  | { event: "exit"; code: number; signal: number; oom: boolean };

export interface NativeRuntimeOptions {
  shimPath: string;
  stateDir: string;
  /** Resolves exec's `user` option for a given container spec. */
  userResolver: (spec: ContainerSpec) => UserResolver;
}

export class NativeRuntime implements Runtime {
  readonly name = "embedded";
  private swept: Promise<unknown> | undefined;

  constructor(private readonly options: NativeRuntimeOptions) {}

  /** The running container recorded under a reuse key (by this or another process), if any. */
  async reattach(reuseKey: string): Promise<EmbeddedContainer | undefined> {
    const r = readReuseRecord(this.options.stateDir, reuseKey);
    if (!r) return undefined;
    const sup = new PidSupervisor(r.shimPid, r.pid, r.spec.stopSignal);
    const paths = containerPaths(this.options.stateDir, r.spec.id);
    return new EmbeddedContainer(r.spec.id, r.pid, new Map(r.ports), sup, sup.exited(), r.spec, paths, this.options.shimPath, this.options.userResolver(r.spec));
  }

  /** Creates the state dir, starts the helper and resolves once the command runs. */
  async start(spec: ContainerSpec, { signal, reuseKey }: { signal?: AbortSignal; reuseKey?: string } = {}): Promise<EmbeddedContainer> {
    assertShim(this.options.shimPath);
    this.swept ??= sweepStateDir(this.options.stateDir).catch(() => undefined);
    await this.swept;
    const paths = containerPaths(this.options.stateDir, spec.id);
    await createStateDir(paths);
    let shim: ChildProcess | undefined;
    try {
      const record = runRecord(spec, paths, undefined);
      writeCopies(paths.upper, [...spec.layerDirs].reverse(), spec.copies);
      shim = spawn(this.options.shimPath, ["run"], { stdio: ["pipe", "ignore", "pipe", "pipe", "pipe"] });
      // the helper closes the lifeline when the container has exited: a late stop request then
      // meets EPIPE, which only means "already stopped" (the exit event tells the rest)
      shim.stdin!.on("error", () => undefined);
      fs.writeFileSync(paths.pidFile, String(shim.pid ?? 0));
      const events = readEvents(shim);
      (shim.stdio[3] as Writable).end(record);
      const ports = new Map<string, number>();
      const first = await firstEvent(shim, events, ports, signal);
      if (first.event === "error") throw shimError(first, spec.image, spec.id);
      debug("[%s] started, pid %d", spec.id.slice(0, 12), first.pid);
      const bus = new EventEmitter();
      const exited = exitOf(shim, events, bus);
      unrefShim(shim);
      if (reuseKey) writeReuseRecord(this.options.stateDir, reuseKey, paths.dir, { spec, pid: first.pid, shimPid: shim.pid!, ports: [...ports] });
      return new EmbeddedContainer(spec.id, first.pid, ports, new ChildSupervisor(shim, bus), exited, spec, paths, this.options.shimPath, this.options.userResolver(spec));
    } catch (err) {
      shim?.stdin?.destroy();
      if (shim && shim.exitCode === null) shim.kill("SIGKILL");
      if (shim) await shimClosed(shim);
      await fs.promises.rm(paths.dir, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
  }
}

/** Parsed JSON-line events from the helper's fd 4, as an async queue. */
function readEvents(shim: ChildProcess): AsyncIterator<ShimEvent> {
  const rl = readline.createInterface({ input: shim.stdio[4] as Readable, crlfDelay: Infinity });
  const iterator = rl[Symbol.asyncIterator]();
  return {
    async next() {
      const r = await iterator.next();
      if (r.done) return { done: true, value: undefined };
      return { done: false, value: JSON.parse(r.value) as ShimEvent };
    },
  };
}

/** Waits for `started` or `error`, collecting `port` events; a helper that dies first is reported with its stderr. */
async function firstEvent(
  shim: ChildProcess,
  events: AsyncIterator<ShimEvent>,
  ports: Map<string, number>,
  signal?: AbortSignal,
): Promise<{ event: "started"; pid: number } | ShimErrorEvent> {
  const stderr: Buffer[] = [];
  shim.stderr!.on("data", (d: Buffer) => stderr.push(d));
  const spawnFailed = new Promise<never>((_, reject) =>
    shim.once("error", (cause) => reject(tcError("TC_ERR_RUNTIME", `cannot start the native helper: ${cause.message}`, { cause }))),
  );
  const aborted = new Promise<never>((_, reject) => {
    signal?.addEventListener("abort", () => reject(tcError("TC_ERR_ABORTED", "container start aborted", { cause: signal.reason })), { once: true });
  });
  for (;;) {
    const r = await Promise.race([events.next(), spawnFailed, aborted]);
    if (!r.done && r.value.event === "port") {
      ports.set(`${r.value.container}/${r.value.proto}`, r.value.host);
      continue;
    }
    if (r.done || (r.value.event !== "started" && r.value.event !== "error")) {
      await shimClosed(shim);
      const text = Buffer.concat(stderr).toString("utf8").trim();
      throw tcError("TC_ERR_RUNTIME", `the native helper ended before the container started (exit ${shim.exitCode ?? shim.signalCode})${text ? `: ${text}` : ""}`);
    }
    return r.value;
  }
}

/**
 * Resolves with the container's exit, from the `exit` event (or the helper's own death); the
 * other events after start (paused, resumed, errors of control requests, warnings) go to `bus`.
 */
async function exitOf(shim: ChildProcess, events: AsyncIterator<ShimEvent>, bus: EventEmitter): Promise<ExitInfo> {
  for (;;) {
    const r = await events.next();
    if (r.done) {
      await shimClosed(shim);
      return { exitCode: 137, signal: 9, oomKilled: false };
    }
    const e = r.value as { event: string; code?: number; signal?: number; oom?: boolean; msg?: string };
    if (e.event === "exit") return { exitCode: e.signal ? 128 + e.signal : e.code!, signal: e.signal!, oomKilled: !!e.oom };
    if (e.event === "warning") debug("[%s] %s", "helper", e.msg);
    bus.emit("event", e);
  }
}

/** A forgotten container must not keep the test process alive; the lifeline still kills it at exit. */
function unrefShim(shim: ChildProcess): void {
  shim.unref();
  for (const s of [shim.stdin, shim.stderr, shim.stdio[4]]) (s as unknown as Socket | null)?.unref?.();
}
