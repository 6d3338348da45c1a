/**
 * Image references with Docker's normalisation (distribution/reference `ParseNormalizedNamed`):
 * `redis` is `docker.io/library/redis:latest`, and a first path component is a registry when it
 * contains `.` or `:`, is `localhost`, or has upper-case letters. Also maps a reference onto the
 * registry host actually contacted (Docker Hub, mirror, name prefix, plain HTTP or HTTPS).
 */
import type { Config } from "../config";
import { tcError } from "../errors";

const HUB = "docker.io";
const HUB_API_HOST = "registry-1.docker.io";
const MAX_NAME_LENGTH = 255;

const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const PATH = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const EXPECTED = "expected [registry[:port]/]name[:tag][@sha256:<64 hex>], e.g. redis:7 or 127.0.0.1:5000/team/app:1.2";

/** A parsed, normalised image reference. */
export class ImageReference {
  constructor(
    /** `docker.io`, `ghcr.io`, `127.0.0.1:5000`, ... */
    readonly registry: string,
    /** `library/redis`, `team/app`, ... */
    readonly repository: string,
    /** The tag; `latest` when neither a tag nor a digest was given. */
    readonly tag?: string,
    /** `sha256:<hex>` when the reference pins a digest. */
    readonly digest?: string,
  ) {}

  /** What to ask the registry for: the digest when pinned, else the tag. */
  get reference(): string {
    return this.digest ?? this.tag ?? "latest";
  }

  /** Canonical form: `docker.io/library/redis:latest`, `host:5000/app@sha256:…`. */
  toString(): string {
    const tag = this.tag === undefined ? "" : `:${this.tag}`;
    const digest = this.digest === undefined ? "" : `@${this.digest}`;
    return `${this.registry}/${this.repository}${tag}${digest}`;
  }
}

/** Parses and normalises an image reference; throws TC_ERR_INVALID_REFERENCE with the reason. */
export function parseImageReference(input: string): ImageReference {
  if (typeof input !== "string") {
    throw invalid(String(input), `expected a string, got ${typeof input}`);
  }
  if (input === "") throw invalid(input, "it is empty");
  if (/\s/.test(input)) throw invalid(input, "it contains whitespace");

  const [rest, digest] = splitDigest(input);
  const [name, tag] = splitTag(input, rest);
  const [registry, repository] = splitRegistry(input, name);

  if (repository !== repository.toLowerCase()) throw invalid(input, "repository name must be lowercase");
  if (!PATH.test(repository)) throw invalid(input, `\`${repository}\` is not a valid repository name`);
  if (!DOMAIN.test(registry)) throw invalid(input, `\`${registry}\` is not a valid registry host[:port]`);
  if (registry.length + 1 + repository.length > MAX_NAME_LENGTH) {
    throw invalid(input, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (registry === HUB && /^library\/[a-f0-9]{64}$/.test(repository) && tag === undefined) {
    throw invalid(input, "it looks like an image ID; testcell pulls images by name");
  }
  return new ImageReference(registry, repository, tag ?? (digest === undefined ? "latest" : undefined), digest);
}

function splitDigest(input: string): [string, string | undefined] {
  const at = input.indexOf("@");
  if (at === -1) return [input, undefined];
  const digest = input.slice(at + 1);
  if (!DIGEST.test(digest)) {
    const why = /^sha256:[a-fA-F0-9]{64}$/.test(digest)
      ? "the digest must be lowercase hex"
      : /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:/.test(digest) && !digest.startsWith("sha256:")
        ? `digest algorithm \`${digest.split(":")[0]}\` is not supported (only sha256)`
        : `\`${digest}\` is not a valid digest (sha256:<64 lowercase hex>)`;
    throw invalid(input, why);
  }
  return [input.slice(0, at), digest];
}

function splitTag(input: string, rest: string): [string, string | undefined] {
  const colon = rest.lastIndexOf(":");
  if (colon === -1 || colon < rest.lastIndexOf("/")) return [rest, undefined];
  const tag = rest.slice(colon + 1);
  if (!TAG.test(tag)) throw invalid(input, `\`${tag}\` is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})`);
  return [rest.slice(0, colon), tag];
}

function splitRegistry(input: string, name: string): [string, string] {
  if (name === "") throw invalid(input, "the name is empty");
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  const isRegistry = slash !== -1 && (/[.:]/.test(first) || first === "localhost" || first !== first.toLowerCase());
  if (!isRegistry) return [HUB, name.includes("/") ? name : `library/${name}`];
  const registry = first === "index.docker.io" ? HUB : first;
  const repository = name.slice(slash + 1);
  if (repository === "") throw invalid(input, "the repository name after the registry is empty");
  return [registry, registry === HUB && !repository.includes("/") ? `library/${repository}` : repository];
}

function invalid(input: string, reason: string): Error {
  return tcError("TC_ERR_INVALID_REFERENCE", `invalid image reference \`${input}\`: ${reason}; ${EXPECTED}`, {
    context: { image: input },
  });
}

/** Where a reference is actually fetched from. */
export interface RegistryEndpoint {
  /** `host[:port]` contacted (`registry-1.docker.io` for Docker Hub, else the mirror or the registry). */
  host: string;
  /** True when spoken to over plain HTTP (loopback and configured insecure registries). */
  plainHttp: boolean;
  /** Repository path on that host (differs from the reference's under a name prefix). */
  repository: string;
  /** `http://host` or `https://host`. */
  baseUrl: string;
}

type RegistryConfig = Pick<Config, "registryMirror" | "insecureRegistries" | "hubImageNamePrefix">;

/** Maps a reference to the host, scheme and repository path actually contacted. */
export function resolveRegistryHost(ref: ImageReference, config: RegistryConfig): RegistryEndpoint {
  let { registry, repository } = ref;
  if (registry === HUB && config.hubImageNamePrefix) {
    ({ registry, repository } = applyHubPrefix(repository, config.hubImageNamePrefix));
  }
  const host = registry === HUB ? (config.registryMirror ?? HUB_API_HOST) : registry;
  const plainHttp = isLoopbackHost(host) || isListed(host, config.insecureRegistries);
  return { host, plainHttp, repository, baseUrl: `${plainHttp ? "http" : "https"}://${host}` };
}

/** TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX: `registry.corp/mirror/` + `redis` → `registry.corp/mirror/redis`. */
function applyHubPrefix(repository: string, prefix: string): { registry: string; repository: string } {
  const familiar = repository.startsWith("library/") ? repository.slice("library/".length) : repository;
  const joined = `${prefix.replace(/\/+$/, "")}/${familiar}`;
  try {
    return parseImageReference(joined);
  } catch (cause) {
    throw tcError(
      "TC_ERR_CONFIG",
      `TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX \`${prefix}\` does not give a valid image name (\`${joined}\`): expected a prefix such as registry.example.com/mirror/`,
      { cause },
    );
  }
}

/** `localhost`, `127.0.0.0/8` and `[::1]`, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const name = hostName(host);
  return name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

function isListed(host: string, list: readonly string[]): boolean {
  return list.includes(host) || list.includes(hostName(host));
}

function hostName(host: string): string {
  if (host.startsWith("[")) return host.slice(0, host.indexOf("]") + 1);
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}
