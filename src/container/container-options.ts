/**
 * The builder's plain-data options. `start()` works on a frozen copy, so starting twice gives
 * two equal containers.
 */
import type { Readable } from "node:stream";
import type { RootfsCopy } from "../runtime/runtime";
import type { HealthCheck, WaitStrategy } from "../wait/wait-strategy";
import type { PortBinding } from "./port-spec";

export type PullPolicyName = "missing" | "always";

export interface ContainerOptions {
  image: string;
  name?: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  labels: Record<string, string>;
  user?: string;
  workingDir?: string;
  hostname?: string;
  platform?: string;
  exposedPorts: PortBinding[];
  copies: RootfsCopy[];
  healthCheck?: HealthCheck;
  waitStrategy?: WaitStrategy;
  startupTimeoutMs?: number;
  pullPolicy: PullPolicyName;
  autoRemove: boolean;
  logConsumers: Array<(stream: Readable) => unknown>;
  bindMounts: Array<{ source: string; target: string; readOnly: boolean }>;
  tmpfs: Record<string, string>;
  ulimits: Record<string, { soft: number; hard: number }>;
  privileged: boolean;
  capAdd: string[];
  capDrop: string[];
  resources: { memoryBytes?: number; cpuQuotaUs?: number; cpuPeriodUs?: number; pids?: number; shmBytes?: number };
  reuse: boolean;
  autoCleanup: boolean;
  networkMode?: string;
  networks: string[];
  networkAliases: string[];
  extraHosts: Array<{ host: string; ipAddress: string }>;
}

/** A deep-enough copy that later builder calls cannot change. */
export function snapshot(o: ContainerOptions): Readonly<ContainerOptions> {
  return Object.freeze({
    ...o,
    command: o.command && [...o.command],
    entrypoint: o.entrypoint && [...o.entrypoint],
    environment: { ...o.environment },
    labels: { ...o.labels },
    exposedPorts: o.exposedPorts.map((p) => ({ ...p })),
    copies: o.copies.map((c) => ({ ...c })),
    healthCheck: o.healthCheck && { ...o.healthCheck, test: [...o.healthCheck.test] },
    logConsumers: [...o.logConsumers],
    bindMounts: o.bindMounts.map((m) => ({ ...m })),
    tmpfs: { ...o.tmpfs },
    ulimits: Object.fromEntries(Object.entries(o.ulimits).map(([k, v]) => [k, { ...v }])),
    capAdd: [...o.capAdd],
    capDrop: [...o.capDrop],
    resources: { ...o.resources },
    networks: [...o.networks],
    networkAliases: [...o.networkAliases],
    extraHosts: o.extraHosts.map((h) => ({ ...h })),
  });
}
