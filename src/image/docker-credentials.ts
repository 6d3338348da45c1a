/**
 * Registry credentials from the Docker CLI's configuration, read as testcontainers reads them:
 * `DOCKER_AUTH_CONFIG` (the JSON of a config.json, as CI systems set it), else
 * `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; per registry, `credHelpers[host]`
 * first, then `credsStore`, then `auths` (`auth` = base64 "user:password", or `username` and
 * `password`, or `identitytoken`). Helpers run as `docker-credential-<name> get` with the server
 * URL on stdin and answer `{"ServerURL","Username","Secret"}` (docker-credential-helpers).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import createDebug from "debug";
import { tcError } from "../errors";
import type { RegistryCredentials } from "./registry-auth";

const debug = createDebug("testcell:pull");

/** The Docker CLI's key for Docker Hub in `auths` and the server URL its helpers store it under. */
export const DOCKER_HUB_SERVER = "https://index.docker.io/v1/";
const HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const HELPER_TIMEOUT_MS = 30_000;

/** The parts of a Docker config.json that hold credentials. */
export interface DockerConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string; registrytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

export interface DockerCredentialsOptions {
  /** Environment to read DOCKER_AUTH_CONFIG, DOCKER_CONFIG, HOME and PATH (for helpers) from; default process.env. */
  env?: Record<string, string | undefined>;
}

/** Looks up credentials for a registry host (`docker.io` for Docker Hub); undefined when there are none. */
export type CredentialsLookup = (registry: string) => Promise<RegistryCredentials | undefined>;

/** Credentials as `docker login` stored them; each registry is looked up once per lookup function. */
export function dockerCredentials(options: DockerCredentialsOptions = {}): CredentialsLookup {
  const env = options.env ?? process.env;
  let config: { file: DockerConfigFile; source: string } | undefined;
  const cache = new Map<string, Promise<RegistryCredentials | undefined>>();
  return (registry) => {
    const host = canonicalHost(registry);
    let found = cache.get(host);
    if (!found) {
      try {
        config ??= readDockerConfig(env);
      } catch (err) {
        return Promise.reject(err);
      }
      found = lookup(host, config.file, config.source, env);
      cache.set(host, found);
    }
    return found;
  };
}

/** Reads DOCKER_AUTH_CONFIG or the config file; a missing file is an empty config. */
export function readDockerConfig(env: Record<string, string | undefined> = process.env): { file: DockerConfigFile; source: string } {
  if (env.DOCKER_AUTH_CONFIG) return { file: parse(env.DOCKER_AUTH_CONFIG, "DOCKER_AUTH_CONFIG"), source: "DOCKER_AUTH_CONFIG" };
  const dir = env.DOCKER_CONFIG || path.join(env.HOME || os.homedir(), ".docker");
  const file = path.join(dir, "config.json");
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { file: {}, source: file };
    throw tcError("TC_ERR_CONFIG", `cannot read the Docker config ${file} (${(err as NodeJS.ErrnoException).code}) for registry credentials: fix its permissions or set DOCKER_CONFIG`, {
      cause: err,
    });
  }
  return { file: parse(text, file), source: file };
}

function parse(text: string, source: string): DockerConfigFile {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw tcError("TC_ERR_CONFIG", `${source} is not valid JSON (${(cause as Error).message}): fix it, or unset it, to pull with registry credentials`, { cause });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw tcError("TC_ERR_CONFIG", `${source} is not a JSON object: expected a Docker config.json`);
  const { auths, credHelpers, credsStore } = doc as Record<string, unknown>;
  return {
    ...(isRecord(auths) ? { auths: auths as DockerConfigFile["auths"] } : {}),
    ...(isRecord(credHelpers) ? { credHelpers: credHelpers as Record<string, string> } : {}),
    ...(typeof credsStore === "string" && credsStore !== "" ? { credsStore } : {}),
  };
}

async function lookup(host: string, file: DockerConfigFile, source: string, env: Record<string, string | undefined>): Promise<RegistryCredentials | undefined> {
  const helper = Object.entries(file.credHelpers ?? {}).find(([key]) => canonicalHost(key) === host)?.[1];
  if (helper) return runHelper(helper, `credHelpers in ${source}`, host, env);
  if (file.credsStore) {
    const fromStore = await runHelper(file.credsStore, `credsStore in ${source}`, host, env);
    if (fromStore) return fromStore;
  }
  const entry = Object.entries(file.auths ?? {}).find(([key]) => canonicalHost(key) === host)?.[1];
  if (!entry) return undefined;
  if (entry.identitytoken) return { username: "", password: "", identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon === -1) throw tcError("TC_ERR_CONFIG", `the \`auth\` entry for ${host} in ${source} is not base64 of "user:password": run docker login again`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** `docker-credential-<name> get`; exit status 1 with "credentials not found" means none. */
async function runHelper(name: string, where: string, host: string, env: Record<string, string | undefined>): Promise<RegistryCredentials | undefined> {
  if (!HELPER_NAME.test(name)) throw tcError("TC_ERR_CONFIG", `credential helper name \`${name}\` (${where}) is not a program name: fix the Docker config`);
  const program = `docker-credential-${name}`;
  const server = host === "docker.io" ? DOCKER_HUB_SERVER : host;
  debug("asking %s for credentials for %s", program, server);
  const { code, stdout, stderr, error } = await run(program, server, env);
  if (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "is not on PATH" : `failed to start (${error.message})`;
    throw tcError("TC_ERR_CONFIG", `${program} (${where}) ${reason}: install it, or remove it from the Docker config to pull without it`, { cause: error });
  }
  if (code !== 0) {
    if (/credentials not found/i.test(stdout + stderr)) return undefined;
    throw tcError("TC_ERR_PULL_UNAUTHORIZED", `${program} (${where}) failed for ${server} (exit ${code}: ${(stderr || stdout).trim().slice(0, 200)}): run docker login ${host === "docker.io" ? "" : host}`.trim(), {
      context: { registry: host },
    });
  }
  let doc: { Username?: unknown; Secret?: unknown };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    throw tcError("TC_ERR_CONFIG", `${program} (${where}) answered something that is not JSON for ${server}: it does not speak the docker-credential-helpers protocol`);
  }
  if (typeof doc.Secret !== "string" || typeof doc.Username !== "string") return undefined;
  // "<token>" marks an identity (refresh) token, as Docker's helpers store them
  return doc.Username === "<token>" ? { username: "", password: "", identityToken: doc.Secret } : { username: doc.Username, password: doc.Secret };
}

function run(program: string, input: string, env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn(program, ["get"], { env: env as NodeJS.ProcessEnv, stdio: ["pipe", "pipe", "pipe"], timeout: HELPER_TIMEOUT_MS });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", (error) => resolve({ code: null, stdout, stderr, error }));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.on("error", () => undefined); // a helper that exits without reading
    child.stdin.end(`${input}\n`);
  });
}

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/path` → `host:5000`. */
export function canonicalHost(key: string): string {
  const host = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").replace(/\/.*$/, "").toLowerCase();
  return HUB_ALIASES.has(host) ? "docker.io" : host;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
