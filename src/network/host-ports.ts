/**
 * Container -> host: ports of services on the host's 127.0.0.1 that containers reach as
 * `host.testcontainers.internal`, as testcontainers' TestContainers.exposeHostPorts. Inside each
 * container the native helper listens on HOST_GATEWAY_IP and relays to the host's loopback.
 */
import { invalidArgument } from "../errors";

/** A loopback address inside the container's own namespace: nothing outside it is addressed. */
export const HOST_GATEWAY_IP = "127.0.0.254";
export const HOST_GATEWAY_NAME = "host.testcontainers.internal";

const exposed = new Set<number>();

export const TestContainers = {
  /** Makes host ports reachable from containers started afterwards, at host.testcontainers.internal:<port>. */
  async exposeHostPorts(...ports: number[]): Promise<void> {
    for (const p of ports) {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw invalidArgument("exposeHostPorts", "port numbers 1-65535", p);
      exposed.add(p);
    }
  },
};

/** The ports exposed so far. */
export function exposedHostPorts(): number[] {
  return [...exposed];
}
