/**
 * TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX, as testcontainers honours it: Docker Hub names are
 * pulled from `<prefix><name>` (a registry that mirrors Hub under a path), other names are not.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readConfig } from "../../src/config";
import { ImageService } from "../../src/image/image-service";
import { nativeFixup } from "../../src/runtime/embedded/fixup";

jest.setTimeout(60_000);

const registry = process.env.TESTCELL_FIXTURE_REGISTRY ?? process.env.TESTCELL_REGISTRY_MIRROR!;

describe("TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX", () => {
  let cacheDir: string;
  beforeAll(() => void (cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-pull-prefix-"))));
  afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

  it("pulls Docker Hub names from the prefixed registry path, without a mirror", async () => {
    const { TESTCELL_REGISTRY_MIRROR: _mirror, ...env } = process.env;
    const config = readConfig({ ...env, TESTCELL_CACHE_DIR: cacheDir, TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX: `${registry}/library/` });
    expect(config.registryMirror).toBeUndefined();
    const images = new ImageService({ config, fixup: nativeFixup(config.shimPath), credentials: () => undefined });
    try {
      const busybox = await images.ensure("busybox:1.35");
      expect(busybox.reference).toBe("docker.io/library/busybox:1.35");
      expect(fs.existsSync(path.join(busybox.layerDirs[0]!, "bin", "busybox"))).toBe(true);
    } finally {
      await images.close();
    }
  });

  it("applies to Docker Hub names only", async () => {
    const { TESTCELL_REGISTRY_MIRROR: _mirror, ...env } = process.env;
    const config = readConfig({ ...env, TESTCELL_CACHE_DIR: cacheDir, TESTCONTAINERS_HUB_IMAGE_NAME_PREFIX: `${registry}/elsewhere/` });
    const images = new ImageService({ config, fixup: nativeFixup(config.shimPath), credentials: () => undefined });
    try {
      // redis:7 is looked for under the prefix, where it is not
      await expect(images.ensure("redis:7")).rejects.toMatchObject({
        code: "TC_ERR_IMAGE_NOT_FOUND",
        message: expect.stringContaining(`image docker.io/library/redis:7 not found at registry ${registry}`),
      });
      // a name with its own registry is pulled from there, prefix or not
      await expect(images.ensure(`${registry}/library/busybox:1.35`)).resolves.toMatchObject({ reference: `${registry}/library/busybox:1.35` });
    } finally {
      await images.close();
    }
  });
});
