/**
 * Platform selection from an image index: the host's os/architecture/variant in OCI names, and
 * the pick of one manifest, skipping BuildKit attestation manifests (`unknown/unknown`).
 */
import { tcError } from "../errors";
import type { Descriptor, ImageIndex } from "./manifest";

/** An OCI platform (`linux/arm64/v8`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  loong64: "loong64",
  mips: "mips",
  mipsel: "mipsle",
};

/** The platform this process runs on, in OCI names (x64 → amd64, arm64 → arm64/v8). */
export function hostPlatform(arch: string = process.arch): Platform {
  const architecture = ARCH[arch] ?? arch;
  if (architecture === "arm64") return { os: "linux", architecture, variant: "v8" };
  if (architecture === "arm") {
    const version = (process.config.variables as Record<string, unknown>).arm_version;
    return typeof version === "string" && version !== "" ? { os: "linux", architecture, variant: `v${version}` } : { os: "linux", architecture };
  }
  return { os: "linux", architecture };
}

/** Parses `linux/arm64/v8`, `linux/amd64` or `arm64` (os defaults to linux). */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length === 1 && parts[0]) return { os: "linux", architecture: ARCH[parts[0]] ?? parts[0] };
  const [os, architecture, variant, extra] = parts;
  if (!os || !architecture || extra !== undefined || variant === "") {
    throw tcError("TC_ERR_INVALID_ARGUMENT", `platform: expected os/architecture[/variant] such as linux/arm64/v8, got \`${text}\``);
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** `linux/arm64/v8`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join("/");
}

/** The platform as a store key: `linux/arm64/v8` and `linux/arm64` are one platform (containerd normalises the same way). */
export function platformKey(p: Platform): string {
  return formatPlatform(p.architecture === "arm64" && normaliseVariant(p) === "v8" ? { os: p.os, architecture: p.architecture } : p);
}

/** Picks the index entry for `wanted`; TC_ERR_MANIFEST_NO_PLATFORM lists the platforms there are. */
export function selectPlatform(index: ImageIndex, wanted: Platform, image: string): Descriptor {
  const candidates = index.manifests.filter((m) => !isAttestation(m));
  // Without a wanted variant, prefer the plain entry (amd64 over amd64/v3).
  const ordered = wanted.variant === undefined ? [...candidates].sort((a, b) => Number(!!a.platform?.variant) - Number(!!b.platform?.variant)) : candidates;
  for (const variant of acceptableVariants(wanted)) {
    const found = ordered.find((m) => m.platform !== undefined && matches(m.platform, wanted, variant));
    if (found) return found;
  }
  // An index whose single entry has no platform at all is a plain wrapper (some tools write these).
  if (candidates.length === 1 && candidates[0]!.platform === undefined) return candidates[0]!;
  const available = candidates.map((m) => (m.platform ? formatPlatform(m.platform) : "(no platform)"));
  throw tcError(
    "TC_ERR_MANIFEST_NO_PLATFORM",
    `image ${image} has no manifest for platform ${formatPlatform(wanted)}; it has: ${available.join(", ") || "nothing but attestations"}. ` +
      "Pick one of those with the `platform` option, or use an image built for this platform",
    { context: { image, platform: formatPlatform(wanted), available } },
  );
}

/** BuildKit provenance/SBOM manifests: annotation, or the `unknown/unknown` platform. */
export function isAttestation(m: Descriptor): boolean {
  return (
    m.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" ||
    (m.platform?.os === "unknown" && m.platform.architecture === "unknown")
  );
}

function matches(have: Platform, wanted: Platform, variant: string | undefined): boolean {
  if (have.os !== wanted.os || have.architecture !== wanted.architecture) return false;
  if (variant === undefined) return true;
  return normaliseVariant(have) === variant;
}

/** arm64 without a variant means v8 (containerd's normalisation). */
function normaliseVariant(p: Platform): string | undefined {
  if (p.architecture === "arm64" && (p.variant === undefined || p.variant === "")) return "v8";
  return p.variant;
}

/** The variants to try, best first: arm/v7 also runs v6 and v5 images. */
function acceptableVariants(wanted: Platform): (string | undefined)[] {
  const variant = normaliseVariant(wanted);
  if (variant === undefined) return [undefined];
  if (wanted.architecture === "arm") {
    const n = Number(variant.slice(1));
    const lower = Number.isInteger(n) ? [7, 6, 5].filter((v) => v <= n).map((v) => `v${v}`) : [];
    return [variant, ...lower.filter((v) => v !== variant)];
  }
  return [variant];
}
