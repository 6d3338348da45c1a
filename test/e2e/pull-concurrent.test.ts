/**
 * Eight processes pull redis:7 into one store at the same moment, from a real registry whose
 * access log counts the requests: each blob is downloaded once, all eight succeed with the same
 * result, and the store is consistent (every blob hashes to its name, one dir per layer, no
 * temp files or locks left behind).
 */
import { spawn, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFixtureRegistry } = require("../fixtures/index.js") as {
  startFixtureRegistry(opts: object): Promise<{ host: string; logs(): string; stop(): Promise<void> }>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const esbuild = require("esbuild") as { buildSync(options: object): void };

jest.setTimeout(180_000);

const PROCESSES = 8;
const ROOT = path.resolve(__dirname, "../..");

/** The child: builds an ImageService on the shared store, says "ready", pulls on "go", prints the result. */
const CHILD = `
import { once } from "node:events";
import { readConfig } from ${JSON.stringify(path.join(ROOT, "src/config"))};
import { ImageService } from ${JSON.stringify(path.join(ROOT, "src/image/image-service"))};
import { nativeFixup } from ${JSON.stringify(path.join(ROOT, "src/runtime/embedded/fixup"))};
(async () => {
  const config = readConfig(process.env);
  const images = new ImageService({ config, fixup: nativeFixup(config.shimPath), credentials: () => undefined });
  process.stdout.write("ready\\n");
  await once(process.stdin, "data");
  const started = Date.now();
  const image = await images.ensure("redis:7");
  await images.close();
  process.stdout.write(JSON.stringify({ manifestDigest: image.manifestDigest, layerDirs: image.layerDirs, ms: Date.now() - started }) + "\\n");
})().catch((err) => {
  process.stderr.write(String(err && err.stack || err));
  process.exit(1);
});
`;

interface Child {
  proc: ChildProcess;
  lines: AsyncIterableIterator<string>;
  stderr: string[];
}

describe("eight processes pulling one image at once", () => {
  let work: string;
  let registry: { host: string; logs(): string; stop(): Promise<void> };
  beforeAll(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "testcell-pull-concurrent-"));
    // a registry of our own, with its access log on, to count what was downloaded
    registry = await startFixtureRegistry({ registry: { extraConfig: { log: { accesslog: { disabled: false } } } } });
  });
  afterAll(async () => {
    await registry?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("downloads each blob once, and all succeed with the same image", async () => {
    const bundle = path.join(work, "child.js");
    fs.writeFileSync(path.join(work, "child.ts"), CHILD);
    esbuild.buildSync({ entryPoints: [path.join(work, "child.ts")], bundle: true, platform: "node", format: "cjs", target: "node20", outfile: bundle, logLevel: "silent" });
    const store = path.join(work, "store");
    const env = {
      ...process.env,
      TESTCELL_CACHE_DIR: store,
      TESTCELL_REGISTRY_MIRROR: registry.host,
      TESTCELL_SHIM: path.join(ROOT, "native/build/testcell-shim"),
    };
    const children: Child[] = Array.from({ length: PROCESSES }, () => {
      const proc = spawn(process.execPath, [bundle], { env, stdio: ["pipe", "pipe", "pipe"] });
      const stderr: string[] = [];
      proc.stderr!.setEncoding("utf8").on("data", (d: string) => stderr.push(d));
      return { proc, lines: createInterface({ input: proc.stdout! })[Symbol.asyncIterator](), stderr };
    });
    const next = async (c: Child): Promise<string> => {
      const { value, done } = await c.lines.next();
      if (done) throw new Error(`child ${c.proc.pid} ended early: ${c.stderr.join("")}`);
      return value;
    };
    try {
      for (const c of children) expect(await next(c)).toBe("ready");
      for (const c of children) c.proc.stdin!.end("go\n");
      const results = await Promise.all(children.map(async (c) => JSON.parse(await next(c)) as { manifestDigest: string; layerDirs: string[]; ms: number }));
      const codes = await Promise.all(children.map((c) => new Promise<number | null>((resolve) => (c.proc.exitCode !== null ? resolve(c.proc.exitCode) : c.proc.on("exit", resolve)))));
      expect(codes).toEqual(Array(PROCESSES).fill(0));
      expect(new Set(results.map((r) => JSON.stringify([r.manifestDigest, r.layerDirs]))).size).toBe(1);

      // one GET per blob (config and layer), from the registry's own access log
      const blobGets = registry
        .logs()
        .split("\n")
        .map((line) => /"GET \/v2\/library\/redis\/blobs\/(sha256:[0-9a-f]{64}) HTTP\/[\d.]+" (\d+)/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null);
      const perBlob = new Map<string, number>();
      for (const m of blobGets) perBlob.set(m[1]!, (perBlob.get(m[1]!) ?? 0) + 1);
      expect(perBlob.size).toBe(2);
      expect([...perBlob.values()]).toEqual([1, 1]);
      expect(blobGets.every((m) => m[2] === "200")).toBe(true);

      // a consistent store
      const blobs = fs.readdirSync(path.join(store, "blobs", "sha256"));
      expect(blobs.filter((b) => !/^[0-9a-f]{64}$/.test(b))).toEqual([]); // no temp files, no locks
      for (const b of blobs) expect(crypto.createHash("sha256").update(fs.readFileSync(path.join(store, "blobs", "sha256", b))).digest("hex")).toBe(b);
      expect(blobs).toEqual(expect.arrayContaining([...perBlob.keys()].map((d) => d.slice(7))));
      const layers = fs.readdirSync(path.join(store, "layers", "sha256"));
      expect(layers).toEqual(results[0]!.layerDirs.map((d) => path.basename(d)));
      expect(fs.readFileSync(path.join(store, "layers", "sha256", layers[0]!, "usr", "bin", "redis-server")).length).toBeGreaterThan(100_000);
      expect(fs.readdirSync(path.join(store, "images"))).toHaveLength(1);
      expect(fs.readdirSync(path.join(store, "refs"))).toHaveLength(1);
    } finally {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGKILL");
    }
  });
});
