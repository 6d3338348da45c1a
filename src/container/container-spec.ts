/**
 * Turning builder options plus a pulled image into the runtime's ContainerSpec, with Docker's
 * rules for entrypoint/cmd, env, working dir, user and stop signal.
 */
import crypto from "node:crypto";
import os from "node:os";
import { invalidArgument, tcError } from "../errors";
import { CAPABILITIES, DEFAULT_CAPABILITIES } from "../runtime/security-profile";
import type { ResolvedImage } from "../image/image-service";
import type { ContainerSpec } from "../runtime/runtime";
import type { ContainerOptions } from "./container-options";
import { resolveUser } from "./image-user";
import { HOST_GATEWAY_IP, HOST_GATEWAY_NAME, exposedHostPorts } from "../network/host-ports";

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** "CAP_NET_ADMIN" or "net_admin" -> "NET_ADMIN"; refuses unknown names. */
export function capabilityName(name: string): string {
  const n = name.toUpperCase().replace(/^CAP_/, "");
  if (n !== "ALL" && !(n in CAPABILITIES)) throw invalidArgument("capability", `a Linux capability such as NET_ADMIN (known: ${Object.keys(CAPABILITIES).join(", ")})`, name);
  return n;
}

/** Docker's defaults plus --cap-add minus --cap-drop ("ALL" allowed in both). */
export function effectiveCapabilities(add: string[], drop: string[]): string[] {
  const set = new Set(DEFAULT_CAPABILITIES);
  for (const a of add.map(capabilityName)) (a === "ALL" ? Object.keys(CAPABILITIES) : [a]).forEach((c) => set.add(c));
  for (const d of drop.map(capabilityName)) (d === "ALL" ? [...set] : [d]).forEach((c) => set.delete(c));
  return [...set].sort();
}

/** The container's own /etc/hosts lines: loopback with its hostname, extra hosts, the host gateway. */
export function ownHosts(o: Readonly<ContainerOptions>, hostname: string): string {
  const lines = [`127.0.0.1\tlocalhost ${hostname}`, "::1\tlocalhost ip6-localhost ip6-loopback"];
  for (const h of o.extraHosts) lines.push(`${h.ipAddress}\t${h.host}`);
  if (exposedHostPorts().length && o.networkMode !== "host") lines.push(`${HOST_GATEWAY_IP}\t${HOST_GATEWAY_NAME}`);
  return lines.join("\n") + "\n";
}

/** A new 64-hex container id, as Docker's. */
export function newContainerId(): string {
  return crypto.randomBytes(32).toString("hex");
}

/** Docker's argv: an overridden entrypoint drops the image's Cmd. */
export function containerArgs(o: Pick<ContainerOptions, "command" | "entrypoint" | "image">, config: ResolvedImage["config"]): string[] {
  const entrypoint = o.entrypoint ?? config.Entrypoint ?? [];
  const cmd = o.command ?? (o.entrypoint ? [] : config.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw tcError("TC_ERR_INVALID_ARGUMENT", `image ${o.image} has no Entrypoint or Cmd and none was given: use withCommand([...])`);
  }
  return args;
}

/** Signal name or number ("SIGINT", "INT", "2") to its number; SIGTERM by default. */
export function stopSignalNumber(value: string | undefined): number {
  if (!value) return os.constants.signals.SIGTERM;
  if (/^\d+$/.test(value)) return Number(value);
  const name = (value.toUpperCase().startsWith("SIG") ? value.toUpperCase() : `SIG${value.toUpperCase()}`) as NodeJS.Signals;
  const n = os.constants.signals[name];
  if (!n) throw tcError("TC_ERR_INVALID_ARGUMENT", `unknown stop signal \`${value}\` in the image config`);
  return n;
}

/** The fully resolved spec of one container. */
export async function buildSpec(o: Readonly<ContainerOptions>, image: ResolvedImage, id = newContainerId()): Promise<ContainerSpec> {
  const config = image.config;
  const user = await resolveUser(o.user ?? config.User, image.layerDirs, image.reference);
  const hostname = o.hostname ?? id.slice(0, 12);
  const env = new Map<string, string>([["PATH", DEFAULT_PATH], ["HOSTNAME", hostname]]);
  for (const kv of config.Env ?? []) {
    const eq = kv.indexOf("=");
    if (eq > 0) env.set(kv.slice(0, eq), kv.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(o.environment)) env.set(k, v);
  if (!env.has("HOME")) env.set("HOME", user.home);
  const envList = [...env].map(([k, v]) => `${k}=${v}`);
  return {
    id,
    image: image.reference,
    layerDirs: image.layerDirs,
    hostname,
    args: containerArgs(o, config),
    env: envList,
    cwd: o.workingDir || config.WorkingDir || "/",
    uid: user.uid,
    gid: user.gid,
    groups: user.groups,
    stopSignal: stopSignalNumber(config.StopSignal),
    ports: o.exposedPorts.map((p) => ({ ...p })),
    copies: [
      { target: "/etc/hostname", source: { content: Buffer.from(`${hostname}\n`) } },
      { target: "/etc/hosts", source: { content: Buffer.from(ownHosts(o, hostname)) } },
      ...o.copies,
    ],
    bindMounts: o.bindMounts.map((m) => ({ ...m })),
    tmpfs: { ...o.tmpfs },
    capabilities: effectiveCapabilities(o.capAdd, o.capDrop),
    privileged: o.privileged,
    resources: { ...o.resources },
    ulimits: { ...o.ulimits },
    detached: o.reuse || !o.autoCleanup,
    netmode: o.networkMode === "host" || o.networkMode === "none" ? o.networkMode : undefined,
    networks: [],
    hostPorts: o.networkMode === "host" ? [] : exposedHostPorts().map((p) => ({ listen: HOST_GATEWAY_IP, port: p, hostPort: p })),
  };
}
