import type { ImageIndex } from "../../../src/image/manifest";
import { hostPlatform, parsePlatform, selectPlatform } from "../../../src/image/platform";

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const entry = (c: string, platform?: { os: string; architecture: string; variant?: string }, annotations?: Record<string, string>) => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: digest(c),
  size: 100,
  ...(platform ? { platform } : {}),
  ...(annotations ? { annotations } : {}),
});
const index = (...manifests: ReturnType<typeof entry>[]): ImageIndex => ({ kind: "index", mediaType: "application/vnd.oci.image.index.v1+json", manifests });

const multi = index(
  entry("1", { os: "linux", architecture: "amd64" }),
  entry("2", { os: "linux", architecture: "arm64", variant: "v8" }),
  entry("3", { os: "linux", architecture: "arm", variant: "v7" }),
  entry("4", { os: "linux", architecture: "arm", variant: "v6" }),
  entry("5", { os: "unknown", architecture: "unknown" }, { "vnd.docker.reference.type": "attestation-manifest" }),
);

describe("hostPlatform", () => {
  it.each([
    ["x64", { os: "linux", architecture: "amd64" }],
    ["arm64", { os: "linux", architecture: "arm64", variant: "v8" }],
    ["ia32", { os: "linux", architecture: "386" }],
    ["s390x", { os: "linux", architecture: "s390x" }],
  ])("maps process.arch %s to OCI names", (arch, expected) => {
    expect(hostPlatform(arch)).toEqual(expected);
  });

  it("maps arm to arm", () => {
    expect(hostPlatform("arm").architecture).toBe("arm");
  });
});

describe("selectPlatform", () => {
  it("picks by os and architecture", () => {
    expect(selectPlatform(multi, { os: "linux", architecture: "amd64" }, "img").digest).toBe(digest("1"));
  });

  it("picks by variant, and treats arm64 without a variant as v8", () => {
    expect(selectPlatform(multi, { os: "linux", architecture: "arm", variant: "v6" }, "img").digest).toBe(digest("4"));
    const noVariant = index(entry("a", { os: "linux", architecture: "arm64" }));
    expect(selectPlatform(noVariant, { os: "linux", architecture: "arm64", variant: "v8" }, "img").digest).toBe(digest("a"));
  });

  it("lets arm/v7 fall back to a v6 image", () => {
    const onlyV6 = index(entry("6", { os: "linux", architecture: "arm", variant: "v6" }));
    expect(selectPlatform(onlyV6, { os: "linux", architecture: "arm", variant: "v7" }, "img").digest).toBe(digest("6"));
  });

  it("prefers the plain entry when no variant is wanted", () => {
    const amd = index(entry("3", { os: "linux", architecture: "amd64", variant: "v3" }), entry("1", { os: "linux", architecture: "amd64" }));
    expect(selectPlatform(amd, { os: "linux", architecture: "amd64" }, "img").digest).toBe(digest("1"));
  });

  it("never picks an attestation manifest", () => {
    const onlyAttestation = index(
      entry("5", { os: "unknown", architecture: "unknown" }, { "vnd.docker.reference.type": "attestation-manifest" }),
      entry("7", { os: "linux", architecture: "amd64" }, { "vnd.docker.reference.type": "attestation-manifest" }),
    );
    expect(() => selectPlatform(onlyAttestation, { os: "linux", architecture: "amd64" }, "img")).toThrow(/nothing but attestations/);
  });

  it("fails with TC_ERR_MANIFEST_NO_PLATFORM listing what exists", () => {
    let caught: unknown;
    try {
      selectPlatform(multi, { os: "linux", architecture: "riscv64" }, "docker.io/library/redis:7");
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "TC_ERR_MANIFEST_NO_PLATFORM" });
    const message = (caught as Error).message;
    expect(message).toContain("docker.io/library/redis:7");
    expect(message).toContain("linux/riscv64");
    expect(message).toContain("linux/amd64, linux/arm64/v8, linux/arm/v7, linux/arm/v6");
    expect(message).not.toContain("unknown");
  });

  it("parses platform strings", () => {
    expect(parsePlatform("linux/arm64/v8")).toEqual({ os: "linux", architecture: "arm64", variant: "v8" });
    expect(parsePlatform("linux/amd64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(parsePlatform("x64")).toEqual({ os: "linux", architecture: "amd64" });
    expect(() => parsePlatform("linux//v8")).toThrow(/expected os\/architecture/);
  });
});
