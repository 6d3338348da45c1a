/**
 * Turns what a registry exchange can go wrong with (socket errors, TLS errors, HTTP statuses and
 * the distribution-spec error body) into testcell errors that name the image, the registry, the
 * reason, and what to do about it.
 */
import { tcError, isTestcellError, type TestcellError } from "../errors";

/** What a request was about, for messages. */
export interface RequestContext {
  /** The registry host contacted. */
  host: string;
  /** Canonical image reference. */
  image: string;
  /** `manifest`, `blob sha256:…`, `token`, `ping`. */
  what: string;
  method: string;
  url: string;
  /** True when the caller had credentials for this registry. */
  withCredentials: boolean;
}

/** A distribution-spec error body entry. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

const RETRYABLE_CODES = new Set([
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  // the stall timeout: no headers, or no body bytes, for that long
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
const RETRYABLE_STATUSES = new Set([408, 429, 500, 502, 503, 504]);

/** Statuses worth another attempt: 408, 429 and transient 5xx. */
export function isRetryableStatus(status: number): boolean {
  return RETRYABLE_STATUSES.has(status);
}

/** Socket errors worth another attempt: the connection was reset or dropped mid-way. */
export function isRetryableNetworkError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE_CODES.has(code);
}

/** Maps a socket, DNS or TLS error to TC_ERR_REGISTRY_UNREACHABLE with a hint for that cause. */
export function unreachableError(err: unknown, ctx: Pick<RequestContext, "host" | "image" | "what">): TestcellError {
  if (isTestcellError(err)) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? (err as Error | null)?.name ?? "error");
  const message = `cannot reach registry ${ctx.host} (${code}) while fetching the ${ctx.what} of ${ctx.image}: ${hintFor(code, ctx.host)}`;
  return tcError("TC_ERR_REGISTRY_UNREACHABLE", message, { cause: err, context: { image: ctx.image, registry: ctx.host, code } });
}

function hintFor(code: string, host: string): string {
  if (code === "ECONNREFUSED") return `is it running? Check the host and port, or set TESTCELL_REGISTRY_MIRROR to a registry that is`;
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "the host name does not resolve: check the registry name and this machine's DNS and network access";
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "EPROTO") {
    return `it does not speak HTTPS; if it is a plain-HTTP registry, add ${host} to TESTCELL_INSECURE_REGISTRIES`;
  }
  if (/CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL/.test(code)) {
    return `its TLS certificate was rejected: add its CA with NODE_EXTRA_CA_CERTS, or add ${host} to TESTCELL_INSECURE_REGISTRIES if it is plain HTTP`;
  }
  if (code === "UND_ERR_CONNECT_TIMEOUT" || code === "ETIMEDOUT") return "the connection timed out: check the network path and any proxy";
  if (code === "ECONNRESET" || code === "UND_ERR_SOCKET" || code === "EPIPE") return "the connection kept being dropped: check the network and the registry's health";
  if (code === "UND_ERR_BODY_TIMEOUT" || code === "UND_ERR_HEADERS_TIMEOUT") {
    return "it stopped sending data for longer than the stall timeout, again and again: check the network and any proxy, or raise the ImageService option stallTimeoutMs for a link that slow";
  }
  return "check that the registry address is right and reachable from here";
}

/** Parses `{"errors":[{"code","message"}]}`, tolerating anything else. */
export function parseRegistryErrors(body: Uint8Array): RegistryErrorEntry[] {
  try {
    const doc = JSON.parse(Buffer.from(body).toString("utf8")) as { errors?: unknown };
    if (!Array.isArray(doc.errors)) return [];
    return doc.errors
      .filter((e): e is Record<string, unknown> => typeof e === "object" && e !== null)
      .map((e) => ({ code: String(e.code ?? ""), message: String(e.message ?? "") }));
  } catch {
    return [];
  }
}

/** Maps a final non-success status to IMAGE_NOT_FOUND, PULL_UNAUTHORIZED or REGISTRY_RESPONSE. */
export function statusError(status: number, errors: RegistryErrorEntry[], ctx: RequestContext, extra = ""): TestcellError {
  const codes = errors.map((e) => e.code);
  const detail = errors.length ? errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ""}`).join("; ") : `HTTP ${status}`;
  const context = { image: ctx.image, registry: ctx.host, status, codes };
  if (codes.includes("NAME_UNKNOWN")) {
    return tcError("TC_ERR_IMAGE_NOT_FOUND", `image ${ctx.image} not found at registry ${ctx.host} (repository name unknown): check the repository name`, { context });
  }
  if (codes.includes("MANIFEST_UNKNOWN") || (status === 404 && ctx.what === "manifest")) {
    return tcError("TC_ERR_IMAGE_NOT_FOUND", `image ${ctx.image} not found at registry ${ctx.host} (manifest unknown): check the name and tag`, { context });
  }
  if (codes.includes("BLOB_UNKNOWN") || (status === 404 && ctx.what.startsWith("blob"))) {
    return tcError(
      "TC_ERR_IMAGE_NOT_FOUND",
      `${ctx.what} of image ${ctx.image} not found at registry ${ctx.host} (${codes.includes("BLOB_UNKNOWN") ? "blob unknown" : "HTTP 404"}): the image was deleted or only partly pushed; push it again`,
      { context },
    );
  }
  if ((status === 401 || status === 403) && ctx.what.startsWith("auth token")) {
    const hint = ctx.withCredentials ? `check the credentials given for ${ctx.host}` : `the registry needs credentials: pass credentials for ${ctx.host}`;
    return tcError("TC_ERR_PULL_UNAUTHORIZED", `the token service ${new URL(ctx.url).host} of registry ${ctx.host} refused to issue an auth token to pull ${ctx.image} (${status}, ${detail}): ${hint}`, {
      context,
    });
  }
  if (status === 401 || status === 403) {
    const hint = ctx.withCredentials
      ? `check the credentials given for ${ctx.host}`
      : `the image may be private (pass credentials for ${ctx.host}) or its name may be misspelled`;
    return tcError("TC_ERR_PULL_UNAUTHORIZED", `registry ${ctx.host} refused to let us pull ${ctx.image} (${status}, ${detail}): ${hint}`, { context });
  }
  if (status === 429) {
    return tcError(
      "TC_ERR_REGISTRY_RESPONSE",
      `registry ${ctx.host} rate-limited the pull of ${ctx.image} (429, ${detail})${extra}: wait, authenticate, or pull through a mirror (TESTCELL_REGISTRY_MIRROR)`,
      { context },
    );
  }
  const path = new URL(ctx.url).pathname;
  return tcError(
    "TC_ERR_REGISTRY_RESPONSE",
    `registry ${ctx.host} answered ${status} to ${ctx.method} ${path} for the ${ctx.what} of ${ctx.image} (${detail})${extra}: ${status >= 500 ? "the registry is failing; try again later" : "the registry does not behave as the distribution spec says"}`,
    { context },
  );
}
