/**
 * Ready when every published TCP port has a listener inside the container, read from the
 * container's own /proc/<pid>/net/tcp{,6} (no exec, so it works on images without a shell), and
 * a connection through the mapped host port succeeds.
 */
import fs from "node:fs";
import net from "node:net";
import { AbstractWaitStrategy, type ContainerHandle } from "./wait-strategy";

const TCP_LISTEN = "0A";
const POLL_MS = 10;

/** Ports in LISTEN state in the network namespace of `pid`. */
export async function listeningPorts(pid: number): Promise<Set<number>> {
  const ports = new Set<number>();
  for (const file of [`/proc/${pid}/net/tcp`, `/proc/${pid}/net/tcp6`]) {
    const text = await fs.promises.readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[3] === TCP_LISTEN) ports.add(parseInt(f[1]!.split(":")[1]!, 16));
    }
  }
  return ports;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
  });
}

export class HostPortWaitStrategy extends AbstractWaitStrategy {
  describe(): string {
    return "listening ports";
  }

  async waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void> {
    const tcp = [...container.mappedPorts].filter(([key]) => key.endsWith("/tcp")).map(([key, host]) => ({ inside: parseInt(key, 10), host }));
    if (tcp.length === 0) return;
    const pending = new Set(tcp);
    while (!signal.aborted && pending.size > 0) {
      const listening = await listeningPorts(container.pid);
      for (const p of [...pending]) if (listening.has(p.inside) && (await canConnect(p.host))) pending.delete(p);
      if (pending.size > 0) await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}
