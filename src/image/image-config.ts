/**
 * The image configuration blob (OCI image-spec `config.md`): the runtime defaults a container
 * starts with, and `rootfs.diff_ids`, the digests of the uncompressed layers.
 */
import { tcError } from "../errors";
import { isDigest } from "./digest";

/** Docker's HEALTHCHECK, durations in nanoseconds as the image stores them. */
export interface HealthcheckConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

/** The `config` object of an image config: the defaults a container of this image starts with. */
export interface ImageConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  Healthcheck?: HealthcheckConfig;
  Shell?: string[];
}

/** The parts of the config blob testcell uses. */
export interface ImageConfigFile {
  os: string;
  architecture: string;
  variant?: string;
  created?: string;
  config: ImageConfig;
  diffIds: string[];
}

type Json = Record<string, unknown>;

/** Parses and checks a config blob; fields of the wrong type are an error, unknown ones are dropped. */
export function parseImageConfig(bytes: Uint8Array, image: string): ImageConfigFile {
  let doc: Json;
  try {
    doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as Json;
  } catch (cause) {
    throw invalid(image, `it is not valid JSON (${(cause as Error).message})`);
  }
  if (typeof doc !== "object" || doc === null) throw invalid(image, "it is not a JSON object");
  const rootfs = doc.rootfs as Json | undefined;
  if (!rootfs || rootfs.type !== "layers" || !Array.isArray(rootfs.diff_ids)) {
    throw invalid(image, "rootfs is missing or not of type `layers`");
  }
  const diffIds = rootfs.diff_ids as unknown[];
  diffIds.forEach((d, i) => {
    if (!isDigest(d)) throw invalid(image, `rootfs.diff_ids[${i}] ${JSON.stringify(d)} is not a sha256 digest`);
  });
  return {
    os: typeof doc.os === "string" ? doc.os : "",
    architecture: typeof doc.architecture === "string" ? doc.architecture : "",
    ...(typeof doc.variant === "string" ? { variant: doc.variant } : {}),
    ...(typeof doc.created === "string" ? { created: doc.created } : {}),
    config: runtimeConfig(doc.config, image),
    diffIds: diffIds as string[],
  };
}

const STRING_ARRAYS = ["Env", "Shell"] as const;
const NULLABLE_ARRAYS = ["Entrypoint", "Cmd"] as const;
const STRINGS = ["User", "WorkingDir", "StopSignal"] as const;
const OBJECTS = ["ExposedPorts", "Volumes", "Labels"] as const;

function runtimeConfig(value: unknown, image: string): ImageConfig {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object") throw invalid(image, "`config` is not an object");
  const c = value as Json;
  const out: Record<string, unknown> = {};
  for (const k of STRING_ARRAYS) if (c[k] != null) out[k] = strings(c[k], k, image);
  for (const k of NULLABLE_ARRAYS) if (c[k] !== undefined) out[k] = c[k] === null ? null : strings(c[k], k, image);
  for (const k of STRINGS) {
    if (c[k] == null) continue;
    if (typeof c[k] !== "string") throw invalid(image, `config.${k} is not a string`);
    out[k] = c[k];
  }
  for (const k of OBJECTS) {
    if (c[k] == null) continue;
    if (typeof c[k] !== "object" || Array.isArray(c[k])) throw invalid(image, `config.${k} is not an object`);
    out[k] = c[k];
  }
  if (c.Healthcheck != null) out.Healthcheck = healthcheck(c.Healthcheck, image);
  return out as ImageConfig;
}

function healthcheck(value: unknown, image: string): HealthcheckConfig {
  if (typeof value !== "object" || value === null) throw invalid(image, "config.Healthcheck is not an object");
  const h = value as Json;
  const out: HealthcheckConfig = {};
  if (h.Test != null) out.Test = strings(h.Test, "Healthcheck.Test", image);
  for (const k of ["Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"] as const) {
    if (h[k] == null) continue;
    if (typeof h[k] !== "number") throw invalid(image, `config.Healthcheck.${k} is not a number`);
    out[k] = h[k] as number;
  }
  return out;
}

function strings(value: unknown, key: string, image: string): string[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw invalid(image, `config.${key} is not an array of strings`);
  }
  return value as string[];
}

function invalid(image: string, reason: string): Error {
  return tcError("TC_ERR_MANIFEST_INVALID", `image config of ${image} is invalid: ${reason}`, { context: { image } });
}
