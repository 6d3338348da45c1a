/**
 * One error family for everything testcell throws. Each error has a stable `code`, a `name`
 * derived from it, the context that explains it (in the message, not only in fields), and a
 * brand so `isTestcellError` works across two loaded copies of the library.
 */

const BRAND = Symbol.for("testcell.error");

/** Stable codes, with the one-line meaning that README's error table repeats. */
export const ErrorCodes = {
  TC_ERR_INVALID_ARGUMENT: "an option or argument has the wrong type or value",
  TC_ERR_INVALID_REFERENCE: "an image reference cannot be parsed",
  TC_ERR_IMAGE_NOT_FOUND: "the registry has no such repository, tag or digest",
  TC_ERR_REGISTRY_UNREACHABLE: "the registry cannot be reached (connection refused, DNS, TLS)",
  TC_ERR_REGISTRY_RESPONSE: "the registry answered with an unexpected status or body",
  TC_ERR_PULL_UNAUTHORIZED: "the registry refused the credentials, or needs some",
  TC_ERR_MANIFEST_INVALID: "a manifest or image config is malformed or of an unsupported type",
  TC_ERR_MANIFEST_NO_PLATFORM: "the image index has no manifest for the requested platform",
  TC_ERR_DIGEST_MISMATCH: "downloaded content does not match its digest",
  TC_ERR_LAYER_UNSAFE: "a layer tries to write outside its root (path traversal, link escape)",
  TC_ERR_LAYER_INVALID: "a layer archive is malformed",
  TC_ERR_STORE: "the local image store could not be read or written",
  TC_ERR_NATIVE_MISSING: "the native helper is not built",
  TC_ERR_RUNTIME: "the runtime failed to create or start the container",
  TC_ERR_USERNS_DENIED: "the kernel refused to create a namespace",
  TC_ERR_COMMAND_NOT_FOUND: "the container's command does not exist in the image",
  TC_ERR_CONTAINER_NOT_RUNNING: "the operation needs a running container",
  TC_ERR_CONTAINER_EXITED: "the container exited before it became ready",
  TC_ERR_WAIT_TIMEOUT: "the container did not become ready in time",
  TC_ERR_ABORTED: "the operation was aborted through its AbortSignal",
  TC_ERR_CONFIG: "a TESTCELL_* setting has an invalid value",
  TC_ERR_PORT_IN_USE: "a fixed host port asked for is already taken",
  TC_ERR_NO_PORT_BINDING: "getMappedPort was asked for a port that was not exposed",
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export interface TestcellErrorOptions {
  cause?: unknown;
  /** Extra context fields, also kept on the error (image, containerId, operation, ...). */
  context?: Record<string, unknown>;
}

/** The base class of every error testcell throws. */
export class TestcellError extends Error {
  readonly code: ErrorCode;
  readonly context: Record<string, unknown>;
  /** Errors met while tearing down after this one; the original error still wins. */
  cleanupErrors: unknown[] = [];

  constructor(code: ErrorCode, message: string, options: TestcellErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.context = options.context ?? {};
    this.name = nameOf(code);
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isTestcellError(value);
  }
}

/** True for any testcell error, also one thrown by another loaded copy of testcell. */
export function isTestcellError(value: unknown): value is TestcellError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** `TC_ERR_WAIT_TIMEOUT` -> `WaitTimeoutError`. */
function nameOf(code: ErrorCode): string {
  const words = code.replace(/^TC_ERR_/, "").toLowerCase().split("_");
  return words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join("") + "Error";
}

/** Shorthand used across the code base. */
export function tcError(code: ErrorCode, message: string, options?: TestcellErrorOptions): TestcellError {
  return new TestcellError(code, message, options);
}

/** execa-style "expected …, got `x` (type)" for argument validation. */
export function invalidArgument(what: string, expected: string, got: unknown): TestcellError {
  const shown = typeof got === "string" ? `\`${got}\`` : `\`${String(JSON.stringify(got) ?? got)}\``;
  return tcError("TC_ERR_INVALID_ARGUMENT", `${what}: expected ${expected}, got ${shown} (${typeof got})`);
}
