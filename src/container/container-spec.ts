/**
 * Turning builder options plus a pulled image into the runtime's ContainerSpec, with Docker's
 * rules for entrypoint/cmd, env, working dir, user and stop signal.
 */
import crypto from "node:crypto";
import os from "node:os";
import { tcError } from "../errors";
import type { ResolvedImage } from "../image/image-service";
import type { ContainerSpec } from "../runtime/runtime";
import type { ContainerOptions } from "./container-options";
import { resolveUser } from "./image-user";

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
      { target: "/etc/hosts", source: { content: Buffer.from(`127.0.0.1\tlocalhost ${hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`) } },
      ...o.copies,
    ],
  };
}
