/**
 * Content digests. Only `sha256:` + 64 lowercase hex is accepted anywhere a digest is used, and
 * always checked before a digest becomes part of a URL or a file name (CVE-2024-3727).
 */
import { createHash } from "node:crypto";

const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** True when `value` is a well-formed sha256 digest. */
export function isDigest(value: unknown): value is string {
  return typeof value === "string" && DIGEST.test(value);
}

/** The sha256 digest of some bytes, as `sha256:<hex>`. */
export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** The hex part of a digest already validated with `isDigest`. */
export function digestHex(digest: string): string {
  return digest.slice("sha256:".length);
}

/** A short form for messages: `sha256:0123456789ab`. */
export function shortDigest(digest: string): string {
  return digest.slice(0, "sha256:".length + 12);
}
