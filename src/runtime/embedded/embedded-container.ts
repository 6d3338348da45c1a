/**
 * A running container driven by one native helper process (the supervisor). Node holds the
 * helper's fd 0 (the lifeline): if this process dies, the helper kills the container and
 * removes its state.
 */
import { spawn, type ChildProcess } from "node:child_process";
import type { EventEmitter } from "node:events";
import fs from "node:fs";
import os from "node:os";
import type { Readable, Writable } from "node:stream";
import { tcError } from "../../errors";
import type { ContainerSpec, ExecOptions, ExecProcess, ExecResult, ExitInfo, LogOptions, RuntimeContainer } from "../runtime";
import { encodeRecord, many } from "./record";
import { CGROUP_PARENT, securityFields } from "./spec-record";
import type { ContainerPaths } from "./state-dir";
import { followLines, tailLines } from "./log-files";

export interface ExecIdentity {
  uid: number;
  gid: number;
  groups: number[];
  cwd: string;
  env: string[];
}

/** Resolves a `user` option of exec into ids, using the image's passwd and group files. */
export type UserResolver = (user: string) => Promise<{ uid: number; gid: number; groups: number[] }>;

/** The process that supervises a container: our own helper child, or a detached helper found again. */
export interface Supervisor {
  /** Stop signal now, SIGKILL after `timeoutMs`. */
  requestStop(timeoutMs: number): void;
  /** Resolves when the supervising process has ended (and cleaned up after the container). */
  closed(): Promise<void>;
  /** Lets go of the lifeline once the container has exited. */
  release(): void;
  /** Freezes (`pause`) or thaws (`resume`) the container's processes. */
  control(request: "pause" | "resume"): Promise<void>;
}

/** The helper this process spawned, driven through its lifeline (fd 0). */
export class ChildSupervisor implements Supervisor {
  constructor(
    private readonly shim: ChildProcess,
    private readonly bus: EventEmitter,
  ) {}

  /** Sends a control line and waits for its answer event (or an error event). */
  control(request: "pause" | "resume"): Promise<void> {
    const answer = request === "pause" ? "paused" : "resumed";
    return new Promise((resolve, reject) => {
      const on = (e: { event: string; op?: string; msg?: string }) => {
        if (e.event !== answer && e.event !== "error") return;
        this.bus.off("event", on);
        if (e.event === "error") reject(tcError("TC_ERR_RUNTIME", `cannot ${request} the container: ${e.op}: ${e.msg}`));
        else resolve();
      };
      this.bus.on("event", on);
      (this.shim.stdio[4] as unknown as { ref?: () => void } | null)?.ref?.();
      this.shim.stdin!.write(`${request}\n`);
    });
  }

  requestStop(timeoutMs: number): void {
    // keep the process alive while it waits for the exit event (the helper's pipes are unref'd)
    (this.shim.stdio[4] as unknown as { ref?: () => void } | null)?.ref?.();
    const lifeline = this.shim.stdin!;
    if (!lifeline.destroyed) lifeline.write(`stop ${Math.max(0, Math.round(timeoutMs))}\n`);
  }

  closed(): Promise<void> {
    return shimClosed(this.shim);
  }

  release(): void {
    this.shim.stdin?.end();
  }
}

export class EmbeddedContainer implements RuntimeContainer {
  readonly exited: Promise<ExitInfo>;
  private exit: ExitInfo | undefined;
  private stopping: Promise<ExitInfo> | undefined;
  private removing: Promise<void> | undefined;

  constructor(
    readonly id: string,
    readonly pid: number,
    readonly mappedPorts: ReadonlyMap<string, number>,
    private readonly supervisor: Supervisor,
    exited: Promise<ExitInfo>,
    readonly spec: ContainerSpec,
    private readonly paths: ContainerPaths,
    private readonly shimPath: string,
    private readonly resolveUser: UserResolver,
  ) {
    this.exited = exited.then((info) => (this.exit = info));
  }

  exitInfo(): ExitInfo | undefined {
    return this.exit;
  }

  /** Runs a command inside the container's namespaces, as the container's user by default. */
  async exec(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const p = await this.execStream(command, options);
    const stdout: string[] = [];
    const stderr: string[] = [];
    const output: string[] = [];
    p.stdout.setEncoding("utf8").on("data", (d: string) => (stdout.push(d), output.push(d)));
    p.stderr.setEncoding("utf8").on("data", (d: string) => (stderr.push(d), output.push(d)));
    const exitCode = await p.exitCode;
    return { output: output.join(""), stdout: stdout.join(""), stderr: stderr.join(""), exitCode };
  }

  /** Starts a process in the container and hands out its streams; `stdin` (if given) is piped in. */
  async execStream(command: string[], options: ExecOptions = {}): Promise<ExecProcess> {
    if (this.exit) {
      throw tcError(
        "TC_ERR_CONTAINER_NOT_RUNNING",
        `cannot exec \`${command.join(" ")}\` in container ${this.id.slice(0, 12)} (${this.spec.image}): it has exited with code ${this.exit.exitCode}`,
        { context: { containerId: this.id, image: this.spec.image } },
      );
    }
    if (this.paused) {
      throw tcError("TC_ERR_CONTAINER_NOT_RUNNING", `cannot exec \`${command.join(" ")}\` in container ${this.id.slice(0, 12)} (${this.spec.image}): it is paused; unpause() it first`, {
        context: { containerId: this.id, image: this.spec.image },
      });
    }
    const ids = options.user ? await this.resolveUser(options.user) : this.spec;
    const env = mergeEnv(this.spec.env, options.env);
    const record = encodeRecord([
      ["pid", this.pid],
      ["uid", ids.uid],
      ["gid", ids.gid],
      ...many("group", ids.groups),
      ...many("env", env),
      ["cwd", options.workingDir ?? this.spec.cwd],
      ...many("arg", command),
      ...securityFields(this.spec),
      ["cgroup", `${CGROUP_PARENT}/${this.spec.id}`],
    ]);
    const withStdin = options.stdin !== undefined;
    const child = spawn(this.shimPath, ["exec"], { stdio: [withStdin ? "pipe" : "ignore", "pipe", "pipe", "pipe"] });
    (child.stdio[3] as Writable).end(record);
    if (withStdin) {
      const input = options.stdin!;
      child.stdin!.on("error", () => undefined); // the process may exit without reading it all
      if (typeof input === "string" || Buffer.isBuffer(input)) child.stdin!.end(input);
      else input.pipe(child.stdin!);
    }
    const exitCode = new Promise<number>((resolve, reject) => {
      child.on("error", reject);
      child.on("close", (code, signal) => resolve(code ?? 128 + (signal ? signalNumber(signal) : 0)));
    });
    return { stdout: child.stdout!, stderr: child.stderr!, exitCode };
  }

  private paused = false;

  async pause(): Promise<void> {
    await this.supervisor.control("pause");
    this.paused = true;
  }

  async resume(): Promise<void> {
    await this.supervisor.control("resume");
    this.paused = false;
  }

  logs(options: LogOptions = {}): Readable {
    const files = [...(options.stdout === false ? [] : [this.paths.stdout]), ...(options.stderr === false ? [] : [this.paths.stderr])];
    return followLines(files, this.exited, options.follow ?? true, options.tail);
  }

  lastLogLines(n: number): Promise<string[]> {
    return tailLines([this.paths.stdout, this.paths.stderr], n);
  }

  /** Sends the stop signal, then SIGKILL after `timeoutMs`; resolves with the exit. */
  stop(timeoutMs: number): Promise<ExitInfo> {
    if (this.exit) return Promise.resolve(this.exit);
    this.stopping ??= (async () => {
      this.supervisor.requestStop(timeoutMs);
      return this.exited;
    })();
    return this.stopping;
  }

  /** Removes the state dir once the helper has finished. */
  remove(): Promise<void> {
    this.removing ??= (async () => {
      await this.stop(0);
      this.supervisor.release();
      await this.supervisor.closed();
      await fs.promises.rm(this.paths.dir, { recursive: true, force: true, maxRetries: 3 });
    })();
    return this.removing;
  }
}

/** Resolves when the helper process has exited. */
export function shimClosed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Later entries of `extra` replace earlier `KEY=` entries of `base`. */
export function mergeEnv(base: string[], extra: Record<string, string> | undefined): string[] {
  if (!extra) return base;
  const map = new Map(base.map((kv) => [kv.split("=", 1)[0]!, kv]));
  for (const [k, v] of Object.entries(extra)) map.set(k, `${k}=${v}`);
  return [...map.values()];
}

function signalNumber(signal: NodeJS.Signals): number {
  return os.constants.signals[signal] ?? 0;
}
