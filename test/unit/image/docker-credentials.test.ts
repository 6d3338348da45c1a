import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { canonicalHost, dockerCredentials } from "../../../src/image/docker-credentials";

let dir: string;
let bin: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-creds-"));
  bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** An environment with only what the lookup may read: a DOCKER_CONFIG dir holding `config`, and PATH = our bin dir first. */
function env(config: object | undefined, extra: Record<string, string> = {}): Record<string, string> {
  const configDir = path.join(dir, "docker");
  fs.mkdirSync(configDir, { recursive: true });
  if (config) fs.writeFileSync(path.join(configDir, "config.json"), JSON.stringify(config));
  return { DOCKER_CONFIG: configDir, HOME: dir, PATH: `${bin}:${process.env.PATH}`, ...extra };
}

/** A docker-credential-<name> script that logs what it was asked and answers from a table. */
function helper(name: string, answers: Record<string, { Username: string; Secret: string }>): string {
  const log = path.join(dir, `${name}.log`);
  const table = JSON.stringify(answers).replace(/'/g, "'\\''");
  fs.writeFileSync(
    path.join(bin, `docker-credential-${name}`),
    `#!/bin/sh
[ "$1" = get ] || exit 2
read server
echo "$server" >> '${log}'
node -e 'const t = JSON.parse(process.argv[1]); const a = t[process.argv[2]]; if (!a) { console.log("credentials not found in native keychain"); process.exit(1); } console.log(JSON.stringify({ ServerURL: process.argv[2], ...a }))' '${table}' "$server"
`,
    { mode: 0o755 },
  );
  return log;
}

const asked = (log: string): string[] => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []);

describe("dockerCredentials", () => {
  it("reads `auths` entries (base64 auth, username/password), keyed with or without scheme and path", async () => {
    const lookup = dockerCredentials({
      env: env({
        auths: {
          "https://index.docker.io/v1/": { auth: b64("hubuser:hub:pass") },
          "http://127.0.0.1:5000": { username: "local", password: "pw" },
          "ghcr.io": { auth: b64("gh:token") },
        },
      }),
    });
    await expect(lookup("docker.io")).resolves.toEqual({ username: "hubuser", password: "hub:pass" });
    await expect(lookup("127.0.0.1:5000")).resolves.toEqual({ username: "local", password: "pw" });
    await expect(lookup("ghcr.io")).resolves.toEqual({ username: "gh", password: "token" });
    await expect(lookup("quay.io")).resolves.toBeUndefined();
  });

  it("prefers DOCKER_AUTH_CONFIG over the config file, as testcontainers does", async () => {
    const fromEnv = JSON.stringify({ auths: { "ghcr.io": { auth: b64("env:user") } } });
    const lookup = dockerCredentials({ env: env({ auths: { "ghcr.io": { auth: b64("file:user") } } }, { DOCKER_AUTH_CONFIG: fromEnv }) });
    await expect(lookup("ghcr.io")).resolves.toEqual({ username: "env", password: "user" });
  });

  it("falls back to ~/.docker/config.json without DOCKER_CONFIG, and to nothing without a file", async () => {
    fs.mkdirSync(path.join(dir, ".docker"));
    fs.writeFileSync(path.join(dir, ".docker", "config.json"), JSON.stringify({ auths: { "quay.io": { auth: b64("q:p") } } }));
    await expect(dockerCredentials({ env: { HOME: dir } })("quay.io")).resolves.toEqual({ username: "q", password: "p" });
    await expect(dockerCredentials({ env: { HOME: path.join(dir, "nowhere") } })("quay.io")).resolves.toBeUndefined();
  });

  it("asks credHelpers[registry] first, then credsStore, then auths; each registry once", async () => {
    const ecr = helper("ecr-login", { "123.dkr.ecr.eu-west-1.amazonaws.com": { Username: "AWS", Secret: "ecr-token" } });
    const store = helper("teststore", { "https://index.docker.io/v1/": { Username: "hub", Secret: "from-store" } });
    const lookup = dockerCredentials({
      env: env({
        credHelpers: { "123.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login" },
        credsStore: "teststore",
        auths: { "ghcr.io": { auth: b64("gh:from-auths") }, "https://index.docker.io/v1/": { auth: b64("hub:from-auths") } },
      }),
    });
    await expect(lookup("123.dkr.ecr.eu-west-1.amazonaws.com")).resolves.toEqual({ username: "AWS", password: "ecr-token" });
    await expect(lookup("docker.io")).resolves.toEqual({ username: "hub", password: "from-store" });
    await expect(lookup("docker.io")).resolves.toEqual({ username: "hub", password: "from-store" });
    // the store has nothing for ghcr.io ("credentials not found"): auths answers
    await expect(lookup("ghcr.io")).resolves.toEqual({ username: "gh", password: "from-auths" });
    expect(asked(ecr)).toEqual(["123.dkr.ecr.eu-west-1.amazonaws.com"]);
    expect(asked(store)).toEqual(["https://index.docker.io/v1/", "ghcr.io"]);
  });

  it("treats a helper's `<token>` user and an `identitytoken` entry as identity tokens", async () => {
    helper("tok", { "registry.example.com": { Username: "<token>", Secret: "refresh-me" } });
    const lookup = dockerCredentials({ env: env({ credHelpers: { "registry.example.com": "tok" }, auths: { "other.example.com": { identitytoken: "id-tok" } } }) });
    await expect(lookup("registry.example.com")).resolves.toEqual({ username: "", password: "", identityToken: "refresh-me" });
    await expect(lookup("other.example.com")).resolves.toEqual({ username: "", password: "", identityToken: "id-tok" });
  });

  it("says what to fix: a helper not on PATH, a config that is not JSON, a bad auth entry", async () => {
    await expect(dockerCredentials({ env: env({ credsStore: "desktop" }) })("ghcr.io")).rejects.toMatchObject({
      code: "TC_ERR_CONFIG",
      message: expect.stringMatching(/docker-credential-desktop \(credsStore in .*config\.json\) is not on PATH: install it, or remove it/),
    });
    await expect(dockerCredentials({ env: { DOCKER_AUTH_CONFIG: "{nope" } })("ghcr.io")).rejects.toMatchObject({
      code: "TC_ERR_CONFIG",
      message: expect.stringContaining("DOCKER_AUTH_CONFIG is not valid JSON"),
    });
    await expect(dockerCredentials({ env: env({ auths: { "ghcr.io": { auth: b64("no-colon") } } }) })("ghcr.io")).rejects.toMatchObject({
      code: "TC_ERR_CONFIG",
      message: expect.stringContaining("run docker login again"),
    });
    await expect(dockerCredentials({ env: env({ credsStore: "../../bin/sh" }) })("ghcr.io")).rejects.toMatchObject({ code: "TC_ERR_CONFIG" });
  });

  it("canonicalises registry keys", () => {
    expect(canonicalHost("https://index.docker.io/v1/")).toBe("docker.io");
    expect(canonicalHost("registry-1.docker.io")).toBe("docker.io");
    expect(canonicalHost("HTTP://Host.Example:5000/v2/")).toBe("host.example:5000");
  });
});
