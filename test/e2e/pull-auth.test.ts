/**
 * Authentication against the real registry (Debian's docker-registry): Basic auth with an
 * htpasswd file, and Bearer tokens (`auth: token`) from a small token issuer run here, which
 * signs RS256 JWTs with a key made here and a self-signed certificate made with openssl that
 * the registry trusts (`rootcertbundle`). Credentials come the way users give them: a Docker
 * config.json, DOCKER_AUTH_CONFIG, or the ImageService option.
 */
import { execFile, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { readConfig } from "../../src/config";
import { dockerCredentials } from "../../src/image/docker-credentials";
import { ImageService, type ImageServiceOptions } from "../../src/image/image-service";
import { buildImage, buildLayer, type BuiltImage } from "../unit/image/fake-registry";
import { writeImageLayout } from "../unit/image/oci-layout";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startRegistry } = require("../fixtures/registry.js") as {
  startRegistry(opts: { htpasswd?: { username: string; password: string }; extraConfig?: object }): Promise<{ host: string; stop(): Promise<void> }>;
};

jest.setTimeout(120_000);

const USER = "alice";
const PASSWORD = "s3cret-pw";
const REFRESH = "refresh-token-of-alice";

let work: string;
let layout: string;
let image: BuiltImage;

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-pull-auth-"));
  image = buildImage([await buildLayer([{ name: "secret.txt", body: "private image\n" }])], { Cmd: ["/secret.txt"] });
  layout = path.join(work, "layout");
  writeImageLayout(layout, "v1", image);
});
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

/** skopeo copy, asynchronously: the token issuer it talks to runs in this process. */
async function push(host: string): Promise<void> {
  await promisify(execFile)("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", `--dest-creds=${USER}:${PASSWORD}`, `oci:${layout}:v1`, `docker://${host}/team/private:v1`]);
}

/** A service on a fresh store; `credentials` as given (undefined: the default, the Docker config). */
function service(credentials?: ImageServiceOptions["credentials"]): ImageService {
  const config = readConfig({ ...process.env, TESTCELL_CACHE_DIR: fs.mkdtempSync(path.join(work, "store-")) });
  return new ImageService({ config, fixup: async () => undefined, retry: { retries: 1, minTimeoutMs: 10, maxTimeoutMs: 20 }, ...(credentials ? { credentials } : {}) });
}

async function pull(images: ImageService, host: string): Promise<unknown> {
  try {
    return await images.ensure(`${host}/team/private:v1`);
  } finally {
    await images.close();
  }
}

/** A Docker config dir whose config.json holds `auths` for host. */
function dockerConfigDir(host: string, entry: object): string {
  const dir = fs.mkdtempSync(path.join(work, "docker-config-"));
  fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ auths: { [`http://${host}`]: entry } }));
  return dir;
}

describe("Basic auth (htpasswd)", () => {
  let registry: { host: string; stop(): Promise<void> };
  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
    await push(registry.host);
  });
  afterAll(() => registry.stop());

  it("pulls with the credentials of $DOCKER_CONFIG/config.json, which ImageService reads by default", async () => {
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dockerConfigDir(registry.host, { auth: Buffer.from(`${USER}:${PASSWORD}`).toString("base64") });
    try {
      await expect(pull(service(), registry.host)).resolves.toMatchObject({ manifestDigest: image.manifestDigest });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });

  it("refuses a wrong password, and no credentials, with TC_ERR_PULL_UNAUTHORIZED saying what to do", async () => {
    const wrong = { username: USER, password: "nope" };
    await expect(pull(service(() => wrong), registry.host)).rejects.toMatchObject({
      code: "TC_ERR_PULL_UNAUTHORIZED",
      message: expect.stringContaining(`check the credentials given for ${registry.host}`),
    });
    await expect(pull(service(() => undefined), registry.host)).rejects.toMatchObject({
      code: "TC_ERR_PULL_UNAUTHORIZED",
      message: expect.stringContaining(`pass credentials for ${registry.host}`),
    });
  });
});

describe("Bearer token auth (auth: token, RS256 JWTs from an issuer)", () => {
  let registry: { host: string; stop(): Promise<void> };
  let issuer: http.Server;
  let requests: { method: string; basic?: string; form?: URLSearchParams; scopes: string[] }[];

  beforeAll(async () => {
    const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
    const keyFile = path.join(work, "issuer.key");
    const certFile = path.join(work, "issuer.crt");
    fs.writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }));
    execFileSync("openssl", ["req", "-x509", "-new", "-key", keyFile, "-subj", "/CN=testcell-token-issuer", "-days", "1", "-out", certFile], { stdio: "pipe" });
    const certDer = Buffer.from(fs.readFileSync(certFile, "utf8").replace(/-----[^-]+-----|\s/g, ""), "base64");
    requests = [];
    issuer = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = new URL(req.url!, "http://issuer");
        const form = req.method === "POST" ? new URLSearchParams(Buffer.concat(chunks).toString()) : undefined;
        const scopes = form ? (form.get("scope") ?? "").split(" ").filter(Boolean) : url.searchParams.getAll("scope");
        const basic = req.headers.authorization?.startsWith("Basic ") ? Buffer.from(req.headers.authorization.slice(6), "base64").toString() : undefined;
        requests.push({ method: req.method!, ...(basic ? { basic } : {}), ...(form ? { form } : {}), scopes });
        const known = basic === `${USER}:${PASSWORD}` || (form?.get("grant_type") === "refresh_token" && form.get("refresh_token") === REFRESH);
        if ((basic !== undefined || form !== undefined) && !known) return void res.writeHead(401, { "content-type": "application/json" }).end('{"details":"bad credentials"}');
        // anonymous callers get a token without access, as Docker Hub's issuer does for private repositories
        const access = known
          ? scopes.map((s) => s.split(":")).map(([type, name, actions]) => ({ type, name, actions: (actions ?? "").split(",") }))
          : [];
        const token = jwt(privateKey, certDer, { iss: "testcell-issuer", aud: "testcell-registry", sub: known ? USER : "", access });
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
      });
    });
    await new Promise<void>((resolve) => issuer.listen(0, "127.0.0.1", resolve));
    const realm = `http://127.0.0.1:${(issuer.address() as AddressInfo).port}/token`;
    registry = await startRegistry({
      extraConfig: { auth: { token: { realm, service: "testcell-registry", issuer: "testcell-issuer", rootcertbundle: certFile } } },
    });
    await push(registry.host);
  });
  afterAll(async () => {
    await registry?.stop();
    issuer.closeAllConnections();
    await new Promise<void>((resolve) => issuer.close(() => resolve()));
  });
  beforeEach(() => void (requests.length = 0));

  it("gets a token with Basic credentials from the issuer and pulls", async () => {
    await expect(pull(service(() => ({ username: USER, password: PASSWORD })), registry.host)).resolves.toMatchObject({ manifestDigest: image.manifestDigest });
    expect(requests.length).toBeGreaterThanOrEqual(1);
    expect(requests.every((r) => r.method === "GET" && r.basic === `${USER}:${PASSWORD}`)).toBe(true);
    expect(requests[0]!.scopes).toEqual(["repository:team/private:pull"]);
  });

  it("exchanges an identity token from DOCKER_AUTH_CONFIG by the OAuth2 refresh-token grant", async () => {
    const config = JSON.stringify({ auths: { [registry.host]: { identitytoken: REFRESH } } });
    await expect(pull(service(dockerCredentials({ env: { DOCKER_AUTH_CONFIG: config } })), registry.host)).resolves.toMatchObject({
      manifestDigest: image.manifestDigest,
    });
    expect(requests[0]).toMatchObject({ method: "POST", scopes: ["repository:team/private:pull"] });
    expect(requests[0]!.form!.get("service")).toBe("testcell-registry");
  });

  it("fails anonymous and wrong-password pulls with TC_ERR_PULL_UNAUTHORIZED", async () => {
    await expect(pull(service(() => undefined), registry.host)).rejects.toMatchObject({ code: "TC_ERR_PULL_UNAUTHORIZED" });
    const err = await pull(service(() => ({ username: USER, password: "wrong" })), registry.host).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TC_ERR_PULL_UNAUTHORIZED", message: expect.stringMatching(/the token service 127\.0\.0\.1:\d+ of registry .* refused to issue an auth token .*: check the credentials given for/) });
  });

  it("reports a token issuer that is down as TC_ERR_REGISTRY_UNREACHABLE naming it", async () => {
    const port = (issuer.address() as AddressInfo).port;
    issuer.closeAllConnections();
    await new Promise<void>((resolve) => issuer.close(() => resolve()));
    const err = await pull(service(() => ({ username: USER, password: PASSWORD })), registry.host).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "TC_ERR_REGISTRY_UNREACHABLE" });
    expect((err as Error).message).toContain(`cannot reach registry 127.0.0.1:${port} (ECONNREFUSED) while fetching the auth token`);
    await new Promise<void>((resolve) => issuer.listen(port, "127.0.0.1", resolve));
  });
});

/** A compact JWS (RS256) with the certificate chain in x5c, as distribution's token verifier expects. */
function jwt(key: crypto.KeyObject, certDer: Buffer, claims: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { typ: "JWT", alg: "RS256", x5c: [certDer.toString("base64")] };
  const payload = { ...claims, iat: now, nbf: now - 10, exp: now + 300, jti: crypto.randomUUID() };
  const encode = (o: object): string => Buffer.from(JSON.stringify(o)).toString("base64url");
  const signed = `${encode(header)}.${encode(payload)}`;
  return `${signed}.${crypto.sign("sha256", Buffer.from(signed), key).toString("base64url")}`;
}
