import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Agent, type Dispatcher } from "undici";
import { GenericContainer, createContext, readConfig } from "../../src";
import { ImageService } from "../../src/image/image-service";
import { nativeFixup } from "../../src/runtime/embedded/fixup";

jest.setTimeout(120_000);

/** An undici dispatcher that counts the requests it sends. */
function countingDispatcher(): { dispatcher: Dispatcher; count: () => number } {
  let n = 0;
  const dispatcher = new Agent().compose((dispatch) => (opts, handler) => {
    n++;
    return dispatch(opts, handler);
  });
  return { dispatcher, count: () => n };
}

describe("pulling from the fixture registry", () => {
  let cacheDir: string;
  beforeAll(() => {
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-store-"));
  });
  afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

  it("verifies the image by digest, and a second start does not pull again", async () => {
    const config = readConfig({ ...process.env, TESTCELL_CACHE_DIR: cacheDir });
    const { dispatcher, count } = countingDispatcher();
    const images = new ImageService({ config, fixup: nativeFixup(config.shimPath), dispatcher });
    const ctx = { ...createContext(config), images };

    const first = await images.ensure("busybox:1.35");
    expect(count()).toBeGreaterThan(0);
    // the digest skopeo (an independent client) reports for the same tag
    const mirror = process.env.TESTCELL_REGISTRY_MIRROR!;
    const inspected = JSON.parse(execFileSync("skopeo", ["inspect", "--tls-verify=false", `docker://${mirror}/library/busybox:1.35`], { encoding: "utf8" }));
    expect(first.manifestDigest).toBe(inspected.Digest);
    // every stored blob hashes to its own name
    const blobDir = path.join(cacheDir, "blobs", "sha256");
    const blobs = fs.readdirSync(blobDir).filter((f) => /^[0-9a-f]{64}$/.test(f));
    expect(blobs.length).toBeGreaterThanOrEqual(2);
    for (const b of blobs) {
      expect(crypto.createHash("sha256").update(fs.readFileSync(path.join(blobDir, b))).digest("hex")).toBe(b);
    }

    const before = count();
    await using c = await new GenericContainer("busybox:1.35", ctx).withCommand(["sleep", "60"]).start();
    expect((await c.exec(["busybox", "true"])).exitCode).toBe(0);
    expect(count()).toBe(before);
  });
});
