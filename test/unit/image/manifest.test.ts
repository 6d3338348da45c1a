import { parseImageConfig } from "../../../src/image/image-config";
import { parseManifestDocument } from "../../../src/image/manifest";

const D = (c: string) => `sha256:${c.repeat(64)}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const manifest = (over: Record<string, unknown> = {}) => ({
  schemaVersion: 2,
  mediaType: OCI_MANIFEST,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: D("c"), size: 10 },
  layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", digest: D("1"), size: 5 }],
  ...over,
});

function invalid(fn: () => unknown, reason: RegExp): void {
  expect(fn).toThrow(expect.objectContaining({ code: "TC_ERR_MANIFEST_INVALID", message: expect.stringMatching(reason) }));
}

describe("parseManifestDocument", () => {
  it("reads an image manifest", () => {
    const doc = parseManifestDocument(json(manifest()), OCI_MANIFEST, "img");
    expect(doc).toMatchObject({ kind: "manifest", config: { digest: D("c") }, layers: [{ digest: D("1"), size: 5 }] });
  });

  it("reads a Docker manifest list, by Content-Type when the body has no mediaType", () => {
    const list = { schemaVersion: 2, manifests: [{ mediaType: OCI_MANIFEST, digest: D("2"), size: 3, platform: { os: "linux", architecture: "arm64", variant: "v8" } }] };
    const doc = parseManifestDocument(json(list), "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8", "img");
    expect(doc).toEqual({
      kind: "index",
      mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
      manifests: [{ mediaType: OCI_MANIFEST, digest: D("2"), size: 3, platform: { os: "linux", architecture: "arm64", variant: "v8" } }],
    });
  });

  it("rejects a mediaType that disagrees with Content-Type, and ambiguous documents (CVE-2021-41190)", () => {
    invalid(() => parseManifestDocument(json(manifest()), "application/vnd.oci.image.index.v1+json", "img"), /disagrees with the Content-Type/);
    invalid(() => parseManifestDocument(json({ ...manifest(), manifests: [] }), undefined, "img"), /ambiguous/);
  });

  it("refuses descriptors whose digest could become a path", () => {
    const bad = manifest({ layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: "sha256:../../../etc/passwd", size: 1 }] });
    invalid(() => parseManifestDocument(json(bad), OCI_MANIFEST, "img"), /layers\[0\]\.digest .* is not a sha256 digest/);
  });

  it.each([
    [{ schemaVersion: 1, mediaType: "application/vnd.docker.distribution.manifest.v1+prettyjws" }, /schema 1/],
    [manifest({ config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: D("c"), size: 1 } }), /OCI artifact/],
    [manifest({ layers: [{ mediaType: "application/x-foo", digest: D("1"), size: 1 }] }), /cannot unpack/],
    [manifest({ layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: D("1"), size: -1 }] }), /size/],
    ["not json", /not valid JSON/],
  ])("rejects %#", (doc, reason) => {
    invalid(() => parseManifestDocument(typeof doc === "string" ? Buffer.from(doc) : json(doc), undefined, "img"), reason);
  });
});

describe("parseImageConfig", () => {
  const config = (over: Record<string, unknown> = {}, rootfs: unknown = { type: "layers", diff_ids: [D("a")] }) =>
    json({ architecture: "arm64", os: "linux", variant: "v8", config: { Env: ["A=1"], Cmd: null, Entrypoint: ["/e"], Healthcheck: { Test: ["CMD", "true"], Interval: 1e9 }, Junk: 1, ...over }, rootfs });

  it("keeps the runtime fields and the diff ids", () => {
    expect(parseImageConfig(config(), "img")).toEqual({
      os: "linux",
      architecture: "arm64",
      variant: "v8",
      config: { Env: ["A=1"], Cmd: null, Entrypoint: ["/e"], Healthcheck: { Test: ["CMD", "true"], Interval: 1e9 } },
      diffIds: [D("a")],
    });
  });

  it("rejects wrong types and bad diff ids", () => {
    invalid(() => parseImageConfig(config({ Env: "A=1" }), "img"), /config\.Env is not an array of strings/);
    invalid(() => parseImageConfig(config({}, { type: "layers", diff_ids: ["sha256:xyz"] }), "img"), /diff_ids\[0\]/);
    invalid(() => parseImageConfig(config({}, null), "img"), /rootfs is missing/);
  });
});
