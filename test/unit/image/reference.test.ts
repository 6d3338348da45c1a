import { isTestcellError } from "../../../src/errors";
import { parseImageReference, resolveRegistryHost } from "../../../src/image/reference";

const D = `sha256:${"a".repeat(64)}`;

describe("parseImageReference", () => {
  it.each([
    ["redis", "docker.io", "library/redis", "latest", undefined, "docker.io/library/redis:latest"],
    ["redis:7", "docker.io", "library/redis", "7", undefined, "docker.io/library/redis:7"],
    ["bitnami/redis:7.2-debian", "docker.io", "bitnami/redis", "7.2-debian", undefined, "docker.io/bitnami/redis:7.2-debian"],
    [`redis@${D}`, "docker.io", "library/redis", undefined, D, `docker.io/library/redis@${D}`],
    [`redis:7@${D}`, "docker.io", "library/redis", "7", D, `docker.io/library/redis:7@${D}`],
    ["docker.io/redis", "docker.io", "library/redis", "latest", undefined, "docker.io/library/redis:latest"],
    ["index.docker.io/library/redis:7", "docker.io", "library/redis", "7", undefined, "docker.io/library/redis:7"],
    ["127.0.0.1:5000/app", "127.0.0.1:5000", "app", "latest", undefined, "127.0.0.1:5000/app:latest"],
    ["localhost/app:1", "localhost", "app", "1", undefined, "localhost/app:1"],
    ["localhost:5000/team/app:1", "localhost:5000", "team/app", "1", undefined, "localhost:5000/team/app:1"],
    ["ghcr.io/owner/repo/sub:v1.0", "ghcr.io", "owner/repo/sub", "v1.0", undefined, "ghcr.io/owner/repo/sub:v1.0"],
    ["[::1]:5000/app", "[::1]:5000", "app", "latest", undefined, "[::1]:5000/app:latest"],
    ["a__b/c-d--e/f.g_h", "docker.io", "a__b/c-d--e/f.g_h", "latest", undefined, "docker.io/a__b/c-d--e/f.g_h:latest"],
    ["Registry.Example.com/app", "Registry.Example.com", "app", "latest", undefined, "Registry.Example.com/app:latest"],
    // Docker reads a bare host:port as name:tag
    ["localhost:5000", "docker.io", "library/localhost", "5000", undefined, "docker.io/library/localhost:5000"],
    ["redis:_Tag.With-chars", "docker.io", "library/redis", "_Tag.With-chars", undefined, "docker.io/library/redis:_Tag.With-chars"],
  ])("parses %s", (input, registry, repository, tag, digest, canonical) => {
    const ref = parseImageReference(input);
    expect(ref.registry).toBe(registry);
    expect(ref.repository).toBe(repository);
    expect(ref.tag).toBe(tag);
    expect(ref.digest).toBe(digest);
    expect(ref.toString()).toBe(canonical);
  });

  it.each([
    ["", /empty/],
    ["Redis", /lowercase/],
    ["redis:", /not a valid tag/],
    [":7", /name is empty/],
    ["redis:t@g", /digest/],
    [`redis@sha256:${"A".repeat(64)}`, /lowercase hex/],
    [`redis@sha512:${"a".repeat(128)}`, /sha512.*not supported/],
    ["redis@sha256:abc", /not a valid digest/],
    ["re dis", /whitespace/],
    ["redis/", /not a valid repository name/],
    ["-redis", /not a valid repository name/],
    ["redis..x", /not a valid repository name/],
    ["a/b//c", /not a valid repository name/],
    [`redis:${"t".repeat(129)}`, /not a valid tag/],
    ["exa_mple.com/app", /not a valid registry/],
    ["localhost/", /repository name after the registry is empty/],
    ["a".repeat(64), /image ID/],
    [`${"a".repeat(250)}/bbbbbbb`, /longer than 255/],
  ])("rejects %j", (input, reason) => {
    let caught: unknown;
    try {
      parseImageReference(input);
    } catch (err) {
      caught = err;
    }
    expect(isTestcellError(caught)).toBe(true);
    expect(caught).toMatchObject({ code: "TC_ERR_INVALID_REFERENCE" });
    expect((caught as Error).message).toMatch(reason);
    expect((caught as Error).message).toContain("expected [registry[:port]/]name[:tag]");
  });
});

describe("resolveRegistryHost", () => {
  const none = { registryMirror: undefined, insecureRegistries: [] as string[], hubImageNamePrefix: undefined };

  it("sends Docker Hub names to registry-1.docker.io over HTTPS", () => {
    expect(resolveRegistryHost(parseImageReference("redis:7"), none)).toEqual({
      host: "registry-1.docker.io",
      plainHttp: false,
      repository: "library/redis",
      baseUrl: "https://registry-1.docker.io",
    });
  });

  it("maps Docker Hub names onto a mirror, keeping library/, over plain HTTP when it is loopback", () => {
    const ep = resolveRegistryHost(parseImageReference("redis:7"), { ...none, registryMirror: "127.0.0.1:5000" });
    expect(ep).toEqual({ host: "127.0.0.1:5000", plainHttp: true, repository: "library/redis", baseUrl: "http://127.0.0.1:5000" });
  });

  it("leaves other registries alone when a mirror is set", () => {
    const ep = resolveRegistryHost(parseImageReference("ghcr.io/o/r:1"), { ...none, registryMirror: "127.0.0.1:5000" });
    expect(ep.baseUrl).toBe("https://ghcr.io");
  });

  it("applies the hub image name prefix to Docker Hub names only", () => {
    const cfg = { ...none, hubImageNamePrefix: "registry.corp.example/mirror/" };
    expect(resolveRegistryHost(parseImageReference("postgres:18"), cfg)).toMatchObject({
      host: "registry.corp.example",
      repository: "mirror/postgres",
      plainHttp: false,
    });
    expect(resolveRegistryHost(parseImageReference("bitnami/redis"), cfg).repository).toBe("mirror/bitnami/redis");
    expect(resolveRegistryHost(parseImageReference("quay.io/a/b"), cfg)).toMatchObject({ host: "quay.io", repository: "a/b" });
  });

  it.each([
    ["127.0.0.1:5000/a", true],
    ["127.1.2.3/a", true],
    ["localhost/a", true],
    ["localhost:5000/a", true],
    ["[::1]:5000/a", true],
    ["128.0.0.1:5000/a", false],
    ["registry.local:5000/a", false],
  ])("%s is plain HTTP: %s", (ref, plain) => {
    expect(resolveRegistryHost(parseImageReference(ref), none).plainHttp).toBe(plain);
  });

  it("speaks plain HTTP to configured insecure registries (host:port or host)", () => {
    const cfg = { ...none, insecureRegistries: ["registry.local:5000", "other.local"] };
    expect(resolveRegistryHost(parseImageReference("registry.local:5000/a"), cfg).baseUrl).toBe("http://registry.local:5000");
    expect(resolveRegistryHost(parseImageReference("other.local:8080/a"), cfg).baseUrl).toBe("http://other.local:8080");
    expect(resolveRegistryHost(parseImageReference("registry.local:5001/a"), cfg).plainHttp).toBe(false);
  });
});
