import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Agent } from "undici";
import { ImageService } from "../../../src/image/image-service";
import { parseImageReference, resolveRegistryHost } from "../../../src/image/reference";
import { parseWwwAuthenticate } from "../../../src/image/registry-auth";
import { RegistryClient } from "../../../src/image/registry-client";
import { buildImage, buildLayer, error, FakeRegistry, type BuiltImage } from "./fake-registry";

const FAST_RETRY = { retries: 2, minTimeoutMs: 5, maxTimeoutMs: 20 };
const USER = { username: "alice", password: "s3cret" };
const BASIC = `Basic ${Buffer.from("alice:s3cret").toString("base64")}`;

let registry: FakeRegistry;
let cacheDir: string;
let dispatcher: Agent;
let image: BuiltImage;
let tokenRequests: URL[];

beforeAll(async () => {
  image = buildImage([await buildLayer([{ name: "hello", body: "world" }])], { Cmd: ["/hello"] });
});

beforeEach(async () => {
  registry = await FakeRegistry.start();
  registry.push("team/app", "1", image);
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-auth-"));
  dispatcher = new Agent();
  tokenRequests = [];
});

afterEach(async () => {
  await registry.close();
  await dispatcher.close();
  fs.rmSync(cacheDir, { recursive: true, force: true });
});

/** Makes the fake registry demand Bearer tokens issued by its own /token endpoint. */
function requireBearer(options: { credentials?: string; rejectFirstToken?: boolean; deny?: boolean } = {}): void {
  let issued = 0;
  let used = false;
  registry.intercept = (req, res) => {
    const url = new URL(req.url!, `http://${registry.host}`);
    if (url.pathname === "/token") {
      tokenRequests.push(url);
      if (options.credentials && req.headers.authorization !== options.credentials) return error(res, 401, "UNAUTHORIZED", "bad credentials");
      issued++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ access_token: `tok-${issued}`, expires_in: 300 }));
      return true;
    }
    const repo = /^\/v2\/(.+)\/(manifests|blobs)\//.exec(url.pathname)?.[1];
    const auth = req.headers.authorization;
    // rejectFirstToken: tok-1 works once, then is revoked (as an expired token would be)
    const revoked = options.rejectFirstToken && auth === "Bearer tok-1" && used;
    if (auth === "Bearer tok-1") used = true;
    const valid = auth?.startsWith("Bearer tok-") && !revoked;
    if (!valid) {
      const scope = repo ? `,scope="repository:${repo}:pull"` : "";
      error(res, 401, "UNAUTHORIZED", "authentication required", {
        "www-authenticate": `Bearer realm="http://${registry.host}/token",service="fake-registry"${scope}`,
      });
      return true;
    }
    if (options.deny) return error(res, 403, "DENIED", "requested access to the resource is denied");
  };
}

function service(credentials?: typeof USER): ImageService {
  return new ImageService({
    config: { cacheDir, registryMirror: undefined, insecureRegistries: [], hubImageNamePrefix: undefined },
    fixup: async () => undefined,
    dispatcher,
    retry: FAST_RETRY,
    // never the developer's own ~/.docker/config.json
    credentials: (host: string) => (credentials && host === registry.host ? credentials : undefined),
  });
}

async function failure(p: Promise<unknown>): Promise<Error & { code: string }> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  return err as Error & { code: string };
}

describe("parseWwwAuthenticate", () => {
  it("reads Bearer parameters, quoted commas included", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"')).toEqual([
      { scheme: "bearer", params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:samalba/my-app:pull,push" } },
    ]);
  });

  it("reads several challenges and unquoted values", () => {
    expect(parseWwwAuthenticate(['Basic realm="Registry Realm"', "Bearer realm=https://r/t, service=svc"])).toEqual([
      { scheme: "basic", params: { realm: "Registry Realm" } },
      { scheme: "bearer", params: { realm: "https://r/t", service: "svc" } },
    ]);
  });

  it("copes with nothing useful", () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("!!!")).toEqual([]);
  });
});

describe("registry authentication", () => {
  it("answers a Bearer challenge: token from the realm, cached per scope, then every request carries it", async () => {
    requireBearer();
    const resolved = await service().ensure(`${registry.host}/team/app:1`);
    expect(resolved.manifestDigest).toBe(image.manifestDigest);
    expect(tokenRequests).toHaveLength(1);
    expect(tokenRequests[0]!.searchParams.get("service")).toBe("fake-registry");
    expect(tokenRequests[0]!.searchParams.getAll("scope")).toEqual(["repository:team/app:pull"]);
    const v2 = registry.requests.filter((r) => r.url.startsWith("/v2/"));
    expect(v2[0]!.authorization).toBeUndefined(); // anonymous first, as the spec's flow goes
    expect(v2.slice(1).every((r) => r.authorization === "Bearer tok-1")).toBe(true);
    expect(v2.filter((r) => r.authorization === undefined)).toHaveLength(1);
  });

  it("sends Basic credentials to the token service when it has them", async () => {
    requireBearer({ credentials: BASIC });
    await service(USER).ensure(`${registry.host}/team/app:1`);
    expect(tokenRequests).toHaveLength(1);
  });

  it("fetches a fresh token once when the registry rejects the cached one", async () => {
    requireBearer({ rejectFirstToken: true });
    await service().ensure(`${registry.host}/team/app:1`);
    expect(tokenRequests).toHaveLength(2);
    expect(registry.requests.filter((r) => r.authorization === "Bearer tok-1")).toHaveLength(2);
    expect(registry.requests.filter((r) => r.authorization === "Bearer tok-2").length).toBeGreaterThanOrEqual(1);
  });

  it("reports refused credentials as TC_ERR_PULL_UNAUTHORIZED", async () => {
    requireBearer({ credentials: BASIC });
    const err = await failure(service({ username: "alice", password: "wrong" }).ensure(`${registry.host}/team/app:1`));
    expect(err.code).toBe("TC_ERR_PULL_UNAUTHORIZED");
    expect(err.message).toContain(`pull ${registry.host}/team/app:1`);
    expect(err.message).toContain(`check the credentials given for ${registry.host}`);
  });

  it("reports a denied pull after authenticating as TC_ERR_PULL_UNAUTHORIZED, retrying only once", async () => {
    requireBearer({ deny: true });
    const err = await failure(service().ensure(`${registry.host}/team/app:1`));
    expect(err.code).toBe("TC_ERR_PULL_UNAUTHORIZED");
    expect(err.message).toMatch(/refused to let us pull .*\(403, DENIED: requested access to the resource is denied\): the image may be private/);
    // HEAD (401), HEAD with the token (403), then the GET whose body says why
    expect(registry.requests.filter((r) => r.url.includes("/manifests/")).map((r) => r.method)).toEqual(["HEAD", "HEAD", "GET"]);
  });

  it("answers a Basic challenge with the credentials, and fails clearly without them", async () => {
    registry.intercept = (req, res) => {
      if (req.headers.authorization === BASIC) return;
      return error(res, 401, "UNAUTHORIZED", "login", { "www-authenticate": 'Basic realm="fake"' });
    };
    await service(USER).ensure(`${registry.host}/team/app:1`);
    expect(registry.requests.filter((r) => r.authorization === BASIC).length).toBeGreaterThanOrEqual(3);
    const err = await failure(service().ensure(`${registry.host}/team/app:1`, { pullPolicy: "always" }));
    expect(err.code).toBe("TC_ERR_PULL_UNAUTHORIZED");
    expect(err.message).toContain(`pass credentials for ${registry.host}`);
  });

  it("follows a blob redirect to another host without forwarding Authorization", async () => {
    const cdnSeen: (string | undefined)[] = [];
    const cdn = http.createServer((req, res) => {
      cdnSeen.push(req.headers.authorization);
      const digest = req.url!.slice("/blob/".length);
      const layer = image.layers.find((l) => l.digest === digest);
      const body = layer ? layer.gz : image.config;
      res.writeHead(200, { "content-length": body.length }).end(body);
    });
    await new Promise<void>((resolve) => cdn.listen(0, "127.0.0.1", resolve));
    try {
      const cdnHost = `127.0.0.1:${(cdn.address() as AddressInfo).port}`;
      requireBearer();
      const bearer = registry.intercept!;
      registry.intercept = (req, res) => {
        if (bearer(req, res)) return true;
        const m = /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url!);
        if (!m) return;
        res.writeHead(307, { location: `http://${cdnHost}/blob/${m[1]}` }).end();
        return true;
      };
      await service().ensure(`${registry.host}/team/app:1`);
      expect(cdnSeen).toHaveLength(2); // config + layer
      expect(cdnSeen.every((a) => a === undefined)).toBe(true);
      expect(registry.requests.filter((r) => r.url.includes("/blobs/")).every((r) => r.authorization === "Bearer tok-1")).toBe(true);
    } finally {
      cdn.closeAllConnections();
      await new Promise<void>((resolve) => cdn.close(() => resolve()));
    }
  });

  it("pings /v2/ through a Bearer challenge", async () => {
    requireBearer();
    const client = new RegistryClient({ endpoint: resolveRegistryHost(parseImageReference(`${registry.host}/x`), { registryMirror: undefined, insecureRegistries: [], hubImageNamePrefix: undefined }), dispatcher, retry: FAST_RETRY });
    await client.ping();
    expect(registry.requests.map((r) => r.url)).toEqual(["/v2/", "/token?service=fake-registry", "/v2/"]);
  });
});
