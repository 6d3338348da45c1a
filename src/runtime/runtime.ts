/**
 * The seam between the container API and whatever runs containers. Specs are plain data, so the
 * same spec can run on another Runtime (a Docker Engine backend, or a fake in unit tests).
 */
import type { Readable } from "node:stream";

/** One file or directory to place in the container's root before it starts. */
export interface RootfsCopy {
  /** Absolute path inside the container. */
  target: string;
  /** File content, or a host file or directory to copy (symlinks in it followed, as testcontainers). */
  source: { content: Buffer } | { path: string };
  mode?: number;
}

/** What to run, fully resolved: no image lookups are left to the runtime. */
export interface ContainerSpec {
  id: string;
  /** Canonical image reference, for messages. */
  image: string;
  /** Unpacked layer dirs, bottom layer first. */
  layerDirs: string[];
  hostname: string;
  /** argv, argv[0] looked up in the container's PATH when it has no slash. */
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  groups: number[];
  /** Signal number sent by a graceful stop. */
  stopSignal: number;
  /** Ports published on 127.0.0.1 of the host. */
  ports: Array<{ container: number; protocol: "tcp" | "udp"; host: number }>;
  /** Files and dirs written into the container's root before it starts. */
  copies: RootfsCopy[];
  /** Host paths bind-mounted into the container. */
  bindMounts: Array<{ source: string; target: string; readOnly: boolean }>;
  /** tmpfs mounts: target -> mount options ("size=64m,mode=1777"). */
  tmpfs: Record<string, string>;
  /** Security: capability names kept, privileged mode, no_new_privs. */
  capabilities: string[];
  privileged: boolean;
  /** Resource limits; undefined = none. */
  resources: { memoryBytes?: number; cpuQuotaUs?: number; cpuPeriodUs?: number; pids?: number; shmBytes?: number };
  /** rlimits by name (nofile, nproc, ...). */
  ulimits: Record<string, { soft: number; hard: number }>;
  /** Outlives the creating process (withReuse). */
  detached: boolean;
  /** "host" shares the host's network namespace, "none" has only lo; undefined: own namespace. */
  netmode?: "host" | "none";
  /** User-defined networks joined through veth pairs. */
  networks: Array<{ netns: string; ifname: string; address: string }>;
  /** Host ports reachable from inside at `listen` (container -> host, exposeHostPorts). */
  hostPorts: Array<{ listen: string; port: number; hostPort: number }>;
}

export interface ExitInfo {
  /** Exit code, or 128 + signal when the process was killed by a signal. */
  exitCode: number;
  signal: number;
  oomKilled: boolean;
}

export interface ExecOptions {
  user?: string;
  workingDir?: string;
  env?: Record<string, string>;
  /** Data for the process's standard input. */
  stdin?: string | Buffer | Readable;
}

/** A process started by execStream: its output streams and its exit code. */
export interface ExecProcess {
  stdout: Readable;
  stderr: Readable;
  exitCode: Promise<number>;
}

export interface ExecResult {
  output: string;
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface LogOptions {
  /** Keep the stream open and deliver new output until the container exits (default true). */
  follow?: boolean;
  /** Start with only the last `tail` lines of what was printed so far. */
  tail?: number;
  /** Include stdout (default true). */
  stdout?: boolean;
  /** Include stderr (default true). */
  stderr?: boolean;
}

/** A created container, as seen by the container API and by wait strategies. */
export interface RuntimeContainer {
  readonly id: string;
  /** Host pid of the container's pid 1, once started. */
  readonly pid: number;
  /** Resolves when the container's pid 1 has exited. */
  readonly exited: Promise<ExitInfo>;
  /** The spec it runs (for a reattached container, the spec it was started with). */
  readonly spec: ContainerSpec;
  /** Host ports by "6379/tcp", bound on 127.0.0.1. */
  readonly mappedPorts: ReadonlyMap<string, number>;
  /** The exit information once it is known, otherwise undefined. */
  exitInfo(): ExitInfo | undefined;
  exec(command: string[], options?: ExecOptions): Promise<ExecResult>;
  execStream(command: string[], options?: ExecOptions): Promise<ExecProcess>;
  /** Combined output, stdout and stderr interleaved in arrival order, line by line. */
  logs(options?: LogOptions): Readable;
  /** The last `n` lines of output, for error messages. */
  lastLogLines(n: number): Promise<string[]>;
  /** Freezes every process of the container. */
  pause(): Promise<void>;
  /** Thaws a paused container. */
  resume(): Promise<void>;
  /** Graceful stop: stop signal, then SIGKILL after `timeoutMs`. Idempotent. */
  stop(timeoutMs: number): Promise<ExitInfo>;
  /** Removes everything the container left on disk. Idempotent; the container must be stopped. */
  remove(): Promise<void>;
}

export interface Runtime {
  readonly name: string;
  /** Creates and starts a container; resolves once its command is running. */
  start(spec: ContainerSpec, options?: { signal?: AbortSignal; reuseKey?: string }): Promise<RuntimeContainer>;
  /** A running container started earlier (maybe by another process) under `reuseKey`. */
  reattach?(reuseKey: string): Promise<RuntimeContainer | undefined>;
}
