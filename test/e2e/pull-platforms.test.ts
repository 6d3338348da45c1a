/**
 * A two-platform image (linux/amd64 + linux/arm64), pushed with `skopeo copy --all` as an OCI
 * index and as a Docker manifest list to the real fixture registry, and pulled per platform.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readConfig } from "../../src/config";
import { ImageService } from "../../src/image/image-service";
import { nativeFixup } from "../../src/runtime/embedded/fixup";
import { buildImage, buildLayer } from "../unit/image/fake-registry";
import { writeIndexLayout } from "../unit/image/oci-layout";

jest.setTimeout(120_000);

const registry = process.env.TESTCELL_FIXTURE_REGISTRY ?? process.env.TESTCELL_REGISTRY_MIRROR!;

describe("a manifest list with two platforms", () => {
  let work: string;
  let images: ImageService;
  let repo: string;
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-pull-platforms-"));
    const amd64 = buildImage([await buildLayer([{ name: "arch", body: "amd64\n" }])], { Cmd: ["/arch"] }, "amd64");
    const arm64 = buildImage([await buildLayer([{ name: "arch", body: "arm64\n" }])], { Cmd: ["/arch"] }, "arm64");
    const layout = path.join(work, "layout");
    writeIndexLayout(layout, "multi", [
      { image: amd64, platform: { os: "linux", architecture: "amd64" } },
      { image: arm64, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ]);
    repo = `${registry}/testcell/multi-${process.pid}`;
    const skopeo = (...args: string[]) => execFileSync("skopeo", ["--insecure-policy", "copy", "--quiet", "--all", "--dest-tls-verify=false", ...args]);
    skopeo(`oci:${layout}:multi`, `docker://${repo}:oci`);
    skopeo("--format", "v2s2", `oci:${layout}:multi`, `docker://${repo}:docker`);
    const config = readConfig({ ...process.env, TESTCELL_CACHE_DIR: path.join(work, "store") });
    images = new ImageService({ config, fixup: nativeFixup(config.shimPath), credentials: () => undefined });
  });
  afterAll(async () => {
    await images?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  const mediaType = (tag: string): string =>
    (JSON.parse(execFileSync("skopeo", ["inspect", "--raw", "--tls-verify=false", `docker://${repo}:${tag}`], { encoding: "utf8" })) as { mediaType: string }).mediaType;
  const arch = (dirs: string[]): string => fs.readFileSync(path.join(dirs[0]!, "arch"), "utf8").trim();

  it.each([
    ["oci", "application/vnd.oci.image.index.v1+json"],
    ["docker", "application/vnd.docker.distribution.manifest.list.v2+json"],
  ])("picks the platform asked for from %s", async (tag, type) => {
    expect(mediaType(tag)).toBe(type);
    const arm = await images.ensure(`${repo}:${tag}`, { platform: "linux/arm64" });
    expect(arch(arm.layerDirs)).toBe("arm64");
    const amd = await images.ensure(`${repo}:${tag}`, { platform: { os: "linux", architecture: "amd64" } });
    expect(arch(amd.layerDirs)).toBe("amd64");
    expect(amd.manifestDigest).not.toBe(arm.manifestDigest);
    // arm64 and arm64/v8 are one platform: the second is served from the store
    expect((await images.ensure(`${repo}:${tag}`, { platform: "linux/arm64/v8" })).manifestDigest).toBe(arm.manifestDigest);
    // each platform is its own entry in the store
    const listed = (await images.list()).filter((i) => i.reference === `${repo}:${tag}`).map((i) => i.platform).sort();
    expect(listed).toEqual(["linux/amd64", "linux/arm64"]);
  });

  it("defaults to this machine's platform", async () => {
    const host = process.arch === "arm64" ? "arm64" : "amd64";
    expect(arch((await images.ensure(`${repo}:oci`)).layerDirs)).toBe(host);
  });

  it("names the platforms there are when the one asked for is missing", async () => {
    const err = await images.ensure(`${repo}:oci`, { platform: "linux/s390x" }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: "TC_ERR_MANIFEST_NO_PLATFORM" });
    expect((err as Error).message).toContain("linux/amd64, linux/arm64/v8");
  });
});
