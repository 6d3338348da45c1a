import diagnostics_channel from "node:diagnostics_channel";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Agent } from "undici";
import { ageBasedPullPolicy } from "../../../src/image/image-pull-policy";
import { ImageService, type EnsureOptions, type PullProgress } from "../../../src/image/image-service";
import type { FixupOp } from "../../../src/image/unpack";
import { buildImage, buildIndex, buildLayer, error, FakeRegistry, sha256, type BuiltImage } from "./fake-registry";

const FAST_RETRY = { retries: 3, minTimeoutMs: 5, maxTimeoutMs: 20, maxRetryAfterMs: 2_000 };

let registry: FakeRegistry;
let cacheDir: string;
let dispatcher: Agent;
let fixups: { dir: string; ops: FixupOp[] }[];
let image: BuiltImage;

beforeAll(async () => {
  const base = await buildLayer([
    { name: "bin/", type: "directory", mode: 0o755 },
    { name: "bin/busybox", mode: 0o755, body: "#!/bin/sh\n" },
    { name: "bin/sh", type: "symlink", linkname: "busybox" },
    { name: "etc/passwd", mode: 0o644, body: "root:x:0:0:root:/root:/bin/sh\n" },
    { name: "etc/old.conf", mode: 0o644, body: "old" },
    { name: "usr/bin/su", mode: 0o4755, body: "su" },
  ]);
  const top = await buildLayer([
    { name: "etc/.wh.old.conf", body: "" },
    { name: "data/", type: "directory", mode: 0o700 },
    { name: "data/.wh..wh..opq", body: "" },
    { name: "data/new", body: "new" },
    { name: "dev/console", type: "character-device", mode: 0o600, devmajor: 5, devminor: 1 },
  ]);
  image = buildImage([base, top], { Env: ["PATH=/bin", "A=b"], Cmd: ["sh"], WorkingDir: "/data", User: "0:0", ExposedPorts: { "80/tcp": {} }, Labels: { x: "y" } });
});

beforeEach(async () => {
  registry = await FakeRegistry.start();
  registry.push("team/app", "1", image);
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-images-"));
  dispatcher = new Agent();
  fixups = [];
});

afterEach(async () => {
  await registry.close();
  await dispatcher.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

function service(extra: Partial<ConstructorParameters<typeof ImageService>[0]> = {}): ImageService {
  return new ImageService({
    config: { cacheDir, registryMirror: undefined, insecureRegistries: [], hubImageNamePrefix: undefined },
    fixup: async (dir, ops) => void fixups.push({ dir, ops }),
    dispatcher,
    retry: FAST_RETRY,
    credentials: () => undefined, // never the developer's own ~/.docker/config.json
    ...extra,
  });
}

function ensure(ref = `${registry.host}/team/app:1`, options: EnsureOptions = {}, svc = service()) {
  return svc.ensure(ref, options);
}

async function failure(p: Promise<unknown>): Promise<Error & { code: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error & { code: string };
}

const list = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const hex = (d: string) => d.slice("sha256:".length);

describe("ImageService.ensure", () => {
  it("pulls, verifies and unpacks an image into the store", async () => {
    const resolved = await ensure();
    const [baseDir, topDir] = resolved.layerDirs;
    expect(resolved).toMatchObject({
      reference: `${registry.host}/team/app:1`,
      manifestDigest: image.manifestDigest,
      configDigest: image.configDigest,
      config: { Env: ["PATH=/bin", "A=b"], Cmd: ["sh"], WorkingDir: "/data", User: "0:0", ExposedPorts: { "80/tcp": {} }, Labels: { x: "y" } },
    });
    expect(resolved.layerDirs).toEqual(image.layers.map((l) => path.join(cacheDir, "layers", "sha256", hex(l.diffId))));

    expect(fs.readFileSync(path.join(baseDir!, "etc/passwd"), "utf8")).toContain("root:x:0:0");
    expect(fs.readlinkSync(path.join(baseDir!, "bin/sh"))).toBe("busybox");
    expect(fs.statSync(path.join(baseDir!, "usr/bin/su")).mode & 0o7777).toBe(0o4755);
    expect(fs.statSync(path.join(topDir!, "data")).mode & 0o7777).toBe(0o700);
    expect(fs.readFileSync(path.join(topDir!, "data/new"), "utf8")).toBe("new");

    // whiteouts, opaque dirs and devices went to the fixup, once for the layer that has them
    expect(fixups).toHaveLength(1);
    expect(fixups[0]!.ops).toEqual([
      { kind: "opaque", path: "data" },
      { kind: "whiteout", path: "etc/old.conf" },
      { kind: "chr", path: "dev/console", mode: 0o600, major: 5, minor: 1 },
    ]);

    // the store: every blob is named by its hash, nothing temporary is left
    const blobs = list(path.join(cacheDir, "blobs", "sha256"));
    expect(blobs).toEqual([image.manifestDigest, image.configDigest, ...image.layers.map((l) => l.digest)].map(hex).sort());
    for (const b of blobs) expect(sha256(fs.readFileSync(path.join(cacheDir, "blobs", "sha256", b)))).toBe(`sha256:${b}`);
    expect(list(path.join(cacheDir, "layers", "sha256"))).toEqual(image.layers.map((l) => hex(l.diffId)).sort());
    expect(list(path.join(cacheDir, "images"))).toEqual([`${hex(image.manifestDigest)}.json`]);
    expect(list(path.join(cacheDir, "refs"))).toHaveLength(1);
  });

  it("makes no request when the image is already in the store, even from a new service", async () => {
    await ensure();
    const before = registry.count();
    const again = await ensure();
    const fromNewService = await ensure(`${registry.host}/team/app:1`, {}, service());
    expect(registry.count()).toBe(before);
    expect(again.layerDirs).toEqual(fromNewService.layerDirs);
  });

  it("HEADs a tag first: another tag of an image it holds costs one HEAD, no GET", async () => {
    await ensure();
    registry.push("team/app", "also", image);
    const before = registry.requests.length;
    const other = await ensure(`${registry.host}/team/app:also`);
    expect(other.manifestDigest).toBe(image.manifestDigest);
    expect(registry.requests.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD /v2/team/app/manifests/also`]);
  });

  it("asks the registry again with pullPolicy always, with one HEAD when the tag has not moved", async () => {
    await ensure();
    const before = registry.requests.length;
    await ensure(undefined, { pullPolicy: "always" });
    expect(registry.requests.slice(before).map((r) => `${r.method} ${r.url}`)).toEqual([`HEAD /v2/team/app/manifests/1`]);
  });

  it("asks the registry with an age-based policy only once the last pull or check is older than the age", async () => {
    await ensure();
    const since = (n: number) => registry.requests.slice(n).map((r) => `${r.method} ${r.url}`);
    let before = registry.requests.length;
    await ensure(undefined, { pullPolicy: ageBasedPullPolicy(60_000) });
    expect(since(before)).toEqual([]);
    await ensure(undefined, { pullPolicy: { maxAgeMs: 0 } });
    expect(since(before)).toEqual([`HEAD /v2/team/app/manifests/1`]);
    // the check was recorded: a minute-old policy is satisfied by it
    before = registry.requests.length;
    await ensure(undefined, { pullPolicy: ageBasedPullPolicy(60_000) });
    expect(since(before)).toEqual([]);
    await expect(ensure(undefined, { pullPolicy: { maxAgeMs: -1 } })).rejects.toMatchObject({
      code: "TC_ERR_INVALID_ARGUMENT",
      message: "pullPolicy.maxAgeMs: expected a number of milliseconds >= 0, got `-1` (number)",
    });
    await expect(ensure(undefined, { pullPolicy: "sometimes" as never })).rejects.toMatchObject({ code: "TC_ERR_INVALID_ARGUMENT" });
  });

  it("pulls what changed with pullPolicy always when the tag has moved, reusing the layers it has", async () => {
    const first = await ensure();
    const moved = buildImage([image.layers[0]!], { Cmd: ["moved"] });
    registry.push("team/app", "1", moved);
    const blobRequests = registry.count((r) => r.url.includes("/blobs/"));
    const second = await ensure(undefined, { pullPolicy: "always" });
    expect(second.manifestDigest).toBe(moved.manifestDigest);
    expect(second.config.Cmd).toEqual(["moved"]);
    expect(second.layerDirs).toEqual([first.layerDirs[0]]);
    expect(registry.count((r) => r.url.includes("/blobs/"))).toBe(blobRequests + 1); // the new config only
  });

  it("unpacks a layer again from the stored blob when its dir went missing", async () => {
    const first = await ensure();
    fs.rmSync(first.layerDirs[1]!, { recursive: true });
    const blobRequests = registry.count((r) => r.url.includes("/blobs/"));
    const second = await ensure();
    expect(fs.existsSync(path.join(second.layerDirs[1]!, "data/new"))).toBe(true);
    expect(registry.count((r) => r.url.includes("/blobs/"))).toBe(blobRequests);
  });

  it("downloads a layer again when its stored blob was damaged", async () => {
    const first = await ensure();
    fs.rmSync(first.layerDirs[0]!, { recursive: true });
    fs.writeFileSync(path.join(cacheDir, "blobs", "sha256", hex(image.layers[0]!.digest)), "damaged");
    const second = await ensure();
    expect(fs.readFileSync(path.join(second.layerDirs[0]!, "etc/passwd"), "utf8")).toContain("root");
    expect(registry.count((r) => r.url.endsWith(image.layers[0]!.digest))).toBe(2);
    expect(sha256(fs.readFileSync(path.join(cacheDir, "blobs", "sha256", hex(image.layers[0]!.digest))))).toBe(image.layers[0]!.digest);
  });

  it("retries a 503 and then succeeds", async () => {
    let failures = 0;
    registry.intercept = (req, res) => {
      if (req.url!.includes("/manifests/") && failures < 2) {
        failures++;
        error(res, 503, "UNAVAILABLE", "try later", { "retry-after": "0" });
        return true;
      }
      if (req.url!.includes("/blobs/") && failures < 3) {
        failures++;
        res.writeHead(502).end("bad gateway");
        return true;
      }
    };
    const resolved = await ensure();
    expect(resolved.manifestDigest).toBe(image.manifestDigest);
    expect(failures).toBe(3);
  });

  it("resumes a layer with Range from where the connection dropped", async () => {
    const layer = image.layers[0]!;
    const half = layer.gz.length >> 1;
    let drops = 0;
    registry.intercept = (req, res) => {
      if (!req.url!.endsWith(layer.digest) || drops++ > 0) return;
      res.writeHead(200, { "content-length": layer.gz.length });
      res.write(layer.gz.subarray(0, half), () => res.destroy());
      return true;
    };
    const resolved = await ensure();
    const gets = registry.requests.filter((r) => r.url.endsWith(layer.digest));
    expect(gets.map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/)]);
    const resumedAt = Number(/\d+/.exec(gets[1]!.range!)![0]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(half);
    expect(fs.readFileSync(path.join(resolved.layerDirs[0]!, "etc/passwd"), "utf8")).toContain("root");
    expect(fs.readFileSync(path.join(cacheDir, "blobs", "sha256", hex(layer.digest)))).toEqual(layer.gz);
  });

  it("resumes from a server that ignores Range by skipping what it already had", async () => {
    const layer = image.layers[0]!;
    let first = true;
    registry.intercept = (req, res) => {
      if (!req.url!.endsWith(layer.digest)) return;
      res.writeHead(200, { "content-length": layer.gz.length });
      if (first) res.write(layer.gz.subarray(0, layer.gz.length >> 1), () => res.destroy());
      else res.end(layer.gz);
      first = false;
      return true;
    };
    const resolved = await ensure();
    expect(registry.count((r) => r.url.endsWith(layer.digest))).toBe(2);
    expect(fs.readFileSync(path.join(cacheDir, "blobs", "sha256", hex(layer.digest)))).toEqual(layer.gz);
    expect(fs.existsSync(path.join(resolved.layerDirs[0]!, "bin/busybox"))).toBe(true);
  });

  it("treats a body that stalls for the stall timeout as dropped, and resumes it", async () => {
    const layer = image.layers[0]!;
    let stalled = false;
    registry.intercept = (req, res) => {
      if (!req.url!.endsWith(layer.digest) || stalled) return;
      stalled = true;
      res.writeHead(200, { "content-length": layer.gz.length });
      res.write(layer.gz.subarray(0, layer.gz.length >> 1)); // and then nothing, with the connection open
      return true;
    };
    const started = Date.now();
    const resolved = await ensure(undefined, {}, service({ stallTimeoutMs: 300 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(registry.requests.filter((r) => r.url.endsWith(layer.digest)).map((r) => r.range)).toEqual([undefined, expect.stringMatching(/^bytes=\d+-$/)]);
    expect(fs.existsSync(path.join(resolved.layerDirs[0]!, "bin/busybox"))).toBe(true);
  });

  it("reports a blob that is always cut short as TC_ERR_REGISTRY_UNREACHABLE and stores nothing of it", async () => {
    const layer = image.layers[0]!;
    registry.intercept = (req, res) => {
      if (!req.url!.endsWith(layer.digest)) return;
      res.writeHead(200, { "content-length": layer.gz.length });
      res.write(layer.gz.subarray(0, 100), () => res.destroy());
      return true;
    };
    const err = await failure(ensure());
    expect(err.code).toBe("TC_ERR_REGISTRY_UNREACHABLE");
    expect(err.message).toContain(`cannot reach registry ${registry.host}`);
    expect(list(path.join(cacheDir, "blobs", "sha256"))).not.toContain(hex(layer.digest));
    expect(list(path.join(cacheDir, "layers", "sha256")).filter((d) => d !== hex(image.layers[1]!.diffId))).toEqual([]);
  });

  it("gives up after a few attempts with TC_ERR_REGISTRY_RESPONSE naming the status", async () => {
    registry.intercept = (_req, res) => error(res, 503, "UNAVAILABLE", "down for maintenance");
    const err = await failure(ensure());
    expect(err.code).toBe("TC_ERR_REGISTRY_RESPONSE");
    // the tag is HEADed first; a HEAD answer has no body, and a failing registry gets no GET on top
    expect(err.message).toContain(`registry ${registry.host} answered 503 to HEAD /v2/team/app/manifests/1`);
    expect(err.message).toContain("after 4 attempts");
    expect(err.message).toContain("the registry is failing; try again later");
    expect(registry.count()).toBe(4);
  });

  it("honours Retry-After on 429, and fails at once when it asks for too long", async () => {
    let calls = 0;
    registry.intercept = (_req, res) => {
      if (calls++ === 0) return error(res, 429, "TOOMANYREQUESTS", "slow down", { "retry-after": "1" });
    };
    const started = Date.now();
    await ensure();
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    registry.intercept = (_req, res) => error(res, 429, "TOOMANYREQUESTS", "rate limit", { "retry-after": "3600" });
    const err = await failure(ensure(`${registry.host}/team/app:1`, { pullPolicy: "always" }));
    expect(err.code).toBe("TC_ERR_REGISTRY_RESPONSE");
    expect(err.message).toMatch(/rate-limited .* retry after 3600 s/);
  });

  it("rejects a layer whose bytes do not match its digest, and stores nothing of it", async () => {
    const other = await buildLayer([{ name: "etc/passwd", body: "evil::0:0::/:/bin/sh\n" }]);
    registry.putBlob(image.layers[0]!.digest, other.gz);
    const err = await failure(ensure());
    expect(err.code).toBe("TC_ERR_DIGEST_MISMATCH");
    expect(err.message).toContain(`layer ${image.layers[0]!.digest} of image ${registry.host}/team/app:1 from registry ${registry.host} has digest ${other.digest}`);
    const blobs = list(path.join(cacheDir, "blobs", "sha256"));
    expect(blobs).not.toContain(hex(image.layers[0]!.digest));
    expect(blobs.filter((b) => !/^[0-9a-f]{64}$/.test(b))).toEqual([]); // no temp files
    expect(list(path.join(cacheDir, "layers", "sha256")).filter((l) => l !== hex(image.layers[1]!.diffId))).toEqual([]);
    expect(list(path.join(cacheDir, "refs"))).toEqual([]);
  });

  it("rejects a manifest that does not match the digest asked for", async () => {
    const pinned = `${registry.host}/team/app@${image.manifestDigest}`;
    registry.intercept = (req, res) => {
      if (!req.url!.endsWith(image.manifestDigest)) return;
      res.writeHead(200, { "content-type": "application/vnd.oci.image.manifest.v1+json" }).end(image.manifest.toString().replace('"schemaVersion":2', '"schemaVersion": 2'));
      return true;
    };
    const err = await failure(ensure(pinned));
    expect(err.code).toBe("TC_ERR_DIGEST_MISMATCH");
    expect(err.message).toContain(`not ${image.manifestDigest} (the digest requested)`);
    expect(list(path.join(cacheDir, "blobs", "sha256"))).toEqual([]);
  });

  it("refuses a hostile layer and writes nothing outside the store", async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-outside-"));
    try {
      const evil = await buildLayer([
        { name: "evil", type: "symlink", linkname: outside },
        { name: "evil/x", body: "pwned" },
      ]);
      const bad = buildImage([evil]);
      registry.push("team/evil", "1", bad);
      const err = await failure(ensure(`${registry.host}/team/evil:1`));
      expect(err.code).toBe("TC_ERR_LAYER_UNSAFE");
      expect(err.message).toContain(`of image ${registry.host}/team/evil:1 is unsafe: entry \`evil/x\` goes through \`evil\``);
      expect(fs.readdirSync(outside)).toEqual([]);
      expect(list(path.join(cacheDir, "layers", "sha256"))).toEqual([]);
      expect(list(path.join(cacheDir, "blobs", "sha256"))).not.toContain(hex(evil.digest));
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });

  it("maps a missing tag to TC_ERR_IMAGE_NOT_FOUND naming image and registry", async () => {
    const err = await failure(ensure(`${registry.host}/team/app:nosuch`));
    expect(err.code).toBe("TC_ERR_IMAGE_NOT_FOUND");
    expect(err.message).toBe(`image ${registry.host}/team/app:nosuch not found at registry ${registry.host} (manifest unknown): check the name and tag`);
  });

  it("maps a missing blob to TC_ERR_IMAGE_NOT_FOUND", async () => {
    registry.intercept = (req, res) => (req.url!.endsWith(image.layers[1]!.digest) ? error(res, 404, "BLOB_UNKNOWN", "blob unknown to registry") : undefined);
    const err = await failure(ensure());
    expect(err.code).toBe("TC_ERR_IMAGE_NOT_FOUND");
    expect(err.message).toBe(
      `blob ${image.layers[1]!.digest} of image ${registry.host}/team/app:1 not found at registry ${registry.host} (blob unknown): the image was deleted or only partly pushed; push it again`,
    );
  });

  it("reports a registry that is down as TC_ERR_REGISTRY_UNREACHABLE, without retrying", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const started = Date.now();
    const err = await failure(ensure(`127.0.0.1:${port}/team/app:1`));
    expect(err.code).toBe("TC_ERR_REGISTRY_UNREACHABLE");
    expect(err.message).toMatch(new RegExp(`^cannot reach registry 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) while fetching the manifest of 127\\.0\\.0\\.1:${port}/team/app:1: is it running\\?`));
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("maps Docker Hub names onto the configured mirror, keeping library/", async () => {
    registry.push("library/redis", "7", image);
    const resolved = await ensure("redis:7", {}, service({ config: { cacheDir, registryMirror: registry.host, insecureRegistries: [], hubImageNamePrefix: undefined } }));
    expect(resolved.reference).toBe("docker.io/library/redis:7");
    expect(registry.requests[0]!.url).toBe("/v2/library/redis/manifests/7");
  });

  it("picks the platform from an index and skips attestations", async () => {
    const armLayer = await buildLayer([{ name: "arch", body: "arm64" }]);
    const arm = buildImage([armLayer], {}, "arm64");
    registry.push("team/multi", arm.manifestDigest, arm);
    registry.push("team/multi", image.manifestDigest, image);
    const attestation = buildImage([]);
    registry.push("team/multi", attestation.manifestDigest, attestation);
    const index = buildIndex([
      { image: attestation, platform: { os: "unknown", architecture: "unknown" }, annotations: { "vnd.docker.reference.type": "attestation-manifest" } },
      { image, platform: { os: "linux", architecture: "amd64" } },
      { image: arm, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
    ]);
    registry.putManifest("team/multi", "1", index, "application/vnd.oci.image.index.v1+json");
    const resolved = await ensure(`${registry.host}/team/multi:1`, { platform: "linux/arm64/v8" });
    expect(resolved.manifestDigest).toBe(arm.manifestDigest);
    expect(fs.readFileSync(path.join(resolved.layerDirs[0]!, "arch"), "utf8")).toBe("arm64");
    const err = await failure(ensure(`${registry.host}/team/multi:1`, { platform: "linux/s390x" }));
    expect(err.code).toBe("TC_ERR_MANIFEST_NO_PLATFORM");
    expect(err.message).toContain("it has: linux/amd64, linux/arm64/v8.");
  });

  it("downloads each layer once when several stores pull the same image at the same time", async () => {
    const results = await Promise.all([ensure(), ensure(undefined, {}, service()), ensure(undefined, {}, service())]);
    expect(new Set(results.map((r) => r.manifestDigest)).size).toBe(1);
    for (const l of image.layers) expect(registry.count((r) => r.url.endsWith(l.digest))).toBe(1);
    expect(list(path.join(cacheDir, "layers", "sha256"))).toEqual(image.layers.map((l) => hex(l.diffId)).sort());
  });

  it("prunes what no reference reaches, keeping shared, young, locked and in-use layers", async () => {
    const svc = service();
    const first = await ensure(undefined, {}, svc);
    const moved = buildImage([image.layers[0]!], { Cmd: ["moved"] });
    registry.push("team/app", "1", moved);
    const second = await ensure(undefined, { pullPolicy: "always" }, svc);
    const blobs = () => list(path.join(cacheDir, "blobs", "sha256"));
    const layers = () => list(path.join(cacheDir, "layers", "sha256"));
    // too young: nothing goes
    expect(await svc.prune()).toEqual({ images: 0, blobs: 0, layers: 0, blobBytes: 0 });
    // the old top layer is in use by someone: it stays, the rest of the old image goes
    const pruned = await svc.prune({ minAgeMs: 0, inUse: (dir) => dir === first.layerDirs[1] });
    expect(pruned).toMatchObject({ images: 1, blobs: 3, layers: 0 }); // old manifest, config, top layer blob
    expect(pruned.blobBytes).toBe(image.manifest.length + image.config.length + image.layers[1]!.gz.length);
    expect(layers()).toEqual([hex(image.layers[0]!.diffId), hex(image.layers[1]!.diffId)].sort());
    // a layer being pulled (its lock held by a live process) stays too
    const lock = await svc.store.lockLayer(image.layers[1]!.diffId);
    expect((await svc.prune({ minAgeMs: 0 })).layers).toBe(0);
    await lock.release();
    expect((await svc.prune({ minAgeMs: 0 })).layers).toBe(1);
    expect(layers()).toEqual([hex(image.layers[0]!.diffId)]);
    expect(blobs()).toEqual([hex(moved.manifestDigest), hex(moved.configDigest), hex(image.layers[0]!.digest)].sort());
    expect((await ensure(undefined, {}, svc)).layerDirs).toEqual(second.layerDirs); // still whole: no request
    // once the reference is removed, everything goes
    await svc.remove(`${registry.host}/team/app:1`);
    expect(await svc.prune({ minAgeMs: 0 })).toMatchObject({ images: 1, blobs: 3, layers: 1 });
    expect([...blobs(), ...layers(), ...list(path.join(cacheDir, "images"))]).toEqual([]);
  });

  it("lists and removes references", async () => {
    const svc = service();
    await ensure(undefined, {}, svc);
    expect(await svc.list()).toEqual([
      expect.objectContaining({ reference: `${registry.host}/team/app:1`, manifestDigest: image.manifestDigest, configDigest: image.configDigest }),
    ]);
    expect(await svc.remove(`${registry.host}/team/app:1`)).toBe(1);
    expect(await svc.list()).toEqual([]);
  });

  it("reports progress per layer, to onProgress and on the testcell:pull:layer diagnostics channel", async () => {
    const events: string[] = [];
    const published: PullProgress[] = [];
    const listener = (p: unknown): void => void published.push(p as PullProgress);
    diagnostics_channel.subscribe("testcell:pull:layer", listener);
    try {
      await ensure(undefined, { onProgress: (p) => events.push(`${p.layer}:${p.status}`) });
    } finally {
      diagnostics_channel.unsubscribe("testcell:pull:layer", listener);
    }
    for (const l of image.layers) {
      expect(events).toContain(`${l.digest}:downloading`);
      expect(events).toContain(`${l.digest}:unpacked`);
      const last = published.filter((p) => p.layer === l.digest && p.status === "downloading").at(-1)!;
      expect(last).toMatchObject({ image: `${registry.host}/team/app:1`, receivedBytes: l.gz.length, totalBytes: l.gz.length });
    }
    expect(published.map((p) => `${p.layer}:${p.status}`)).toEqual(events);
  });

  it("stops with TC_ERR_ABORTED when its signal is aborted", async () => {
    registry.intercept = () => true; // never answers
    const controller = new AbortController();
    const pending = ensure(undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const err = await failure(pending);
    expect(err.code).toBe("TC_ERR_ABORTED");
  });
});
