/**
 * The builder's plain-data options. `start()` works on a frozen copy, so starting twice gives
 * two equal containers.
 */
import type { WaitStrategy } from "../wait/wait-strategy";
import type { PortBinding } from "./port-spec";

export type PullPolicyName = "missing" | "always";

export interface ContainerOptions {
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment: Record<string, string>;
  user?: string;
  workingDir?: string;
  hostname?: string;
  waitStrategy?: WaitStrategy;
  startupTimeoutMs?: number;
  exposedPorts: PortBinding[];
  pullPolicy: PullPolicyName;
  autoRemove: boolean;
}

/** A deep-enough copy that later builder calls cannot change. */
export function snapshot(o: ContainerOptions): Readonly<ContainerOptions> {
  return Object.freeze({
    ...o,
    command: o.command && [...o.command],
    entrypoint: o.entrypoint && [...o.entrypoint],
    environment: { ...o.environment },
    exposedPorts: o.exposedPorts.map((p) => ({ ...p })),
  });
}
