/**
 * Published ports as testcontainers takes them: `6379`, `"53/udp"`, `"5432/tcp"`,
 * `{ container: 80, host: 8080, protocol: "tcp" }`.
 */
import { invalidArgument } from "../errors";

export type Protocol = "tcp" | "udp";
export type PortWithOptionalBinding = number | string | { container: number; host?: number; protocol?: Protocol };

export interface PortBinding {
  container: number;
  protocol: Protocol;
  /** Fixed host port, or 0 for one the kernel picks. */
  host: number;
}

function checkPort(what: string, n: number, allowZero = false): number {
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) throw invalidArgument(what, "a port number 1-65535", n);
  return n;
}

/** Parses one port argument of withExposedPorts. */
export function parsePort(p: PortWithOptionalBinding): PortBinding {
  if (typeof p === "number") return { container: checkPort("withExposedPorts", p), protocol: "tcp", host: 0 };
  if (typeof p === "string") {
    const m = /^(\d+)(?:\/(tcp|udp))?$/i.exec(p.trim());
    if (!m) throw invalidArgument("withExposedPorts", 'a port such as 6379, "6379/tcp" or "53/udp"', p);
    return { container: checkPort("withExposedPorts", Number(m[1])), protocol: (m[2]?.toLowerCase() ?? "tcp") as Protocol, host: 0 };
  }
  if (typeof p === "object" && p !== null && "container" in p) {
    const protocol = p.protocol ?? "tcp";
    if (protocol !== "tcp" && protocol !== "udp") throw invalidArgument("withExposedPorts protocol", '"tcp" or "udp"', protocol);
    return { container: checkPort("withExposedPorts container", p.container), protocol, host: p.host === undefined ? 0 : checkPort("withExposedPorts host", p.host) };
  }
  throw invalidArgument("withExposedPorts", "a number, a string or { container, host?, protocol? }", p);
}

/** The key of a port in lookups: "6379/tcp". */
export function portKey(port: number | string, protocol: Protocol = "tcp"): string {
  if (typeof port === "string") {
    const m = /^(\d+)(?:\/(tcp|udp))?$/i.exec(port.trim());
    if (!m) throw invalidArgument("getMappedPort", 'a port such as 6379 or "6379/tcp"', port);
    return `${Number(m[1])}/${m[2]?.toLowerCase() ?? protocol}`;
  }
  return `${port}/${protocol}`;
}
