/**
 * Every TESTCELL_* setting, read once, validated, and documented in README's settings table.
 * Code takes a `Config` object instead of reading process.env itself.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { tcError } from "./errors";

export interface Config {
  /** Registry (host[:port]) that Docker Hub names are mapped onto, as Docker's registry-mirrors. */
  registryMirror: string | undefined;
  /** Registries spoken to over plain HTTP (loopback registries always are). */
  insecureRegistries: string[];
  /** Prefix put before Docker Hub image names (TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX). */
  hubImageNamePrefix: string | undefined;
  /** Content-addressed image store. */
  cacheDir: string;
  /** Per-container state (upper dirs, logs); swept when its helper is dead. */
  stateDir: string;
  /** Path of the native helper binary. */
  shimPath: string;
}

type Env = Record<string, string | undefined>;

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[a-zA-Z0-9.-]+)(:\d{1,5})?$/;

/** Parses the settings from an environment (process.env by default). */
export function readConfig(env: Env = process.env): Config {
  const mirror = hostPort(env, "TESTCELL_REGISTRY_MIRROR");
  const insecure = (env.TESTCELL_INSECURE_REGISTRIES ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const r of insecure) checkHostPort("TESTCELL_INSECURE_REGISTRIES", r);
  const cacheBase = env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  const runtimeBase = env.XDG_RUNTIME_DIR || (process.getuid?.() === 0 ? "/run" : path.join(os.tmpdir(), `testcell-${process.getuid?.()}`));
  return {
    registryMirror: mirror,
    insecureRegistries: insecure,
    hubImageNamePrefix: env.TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX || undefined,
    cacheDir: absolute(env, "TESTCELL_CACHE_DIR") ?? path.join(cacheBase, "testcell"),
    stateDir: absolute(env, "TESTCELL_STATE_DIR") ?? path.join(runtimeBase, "testcell"),
    shimPath: absolute(env, "TESTCELL_SHIM") ?? path.join(packageRoot(), "native", "build", "testcell-shim"),
  };
}

/** The testcell package's root: the nearest dir above this file with native/Makefile (src/ or dist/ alike). */
function packageRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, "native", "Makefile"))) {
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, "..");
    dir = up;
  }
  return dir;
}

function hostPort(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  if (!value) return undefined;
  const stripped = value.replace(/^https?:\/\//, "").replace(/\/+$/, "");
  checkHostPort(name, stripped);
  return stripped;
}

function checkHostPort(name: string, value: string): void {
  if (!HOST_PORT.test(value)) {
    throw tcError("TC_ERR_CONFIG", `${name}: expected host[:port] such as 127.0.0.1:5000, got \`${value}\``);
  }
}

function absolute(env: Env, name: string): string | undefined {
  const value = env[name];
  if (!value) return undefined;
  if (!path.isAbsolute(value)) throw tcError("TC_ERR_CONFIG", `${name}: expected an absolute path, got \`${value}\``);
  return value;
}

let cached: Config | undefined;

/** The process-wide settings, read on first use. */
export function getConfig(): Config {
  cached ??= readConfig();
  return cached;
}
