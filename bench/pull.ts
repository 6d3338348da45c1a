// Cold pull + unpack of the fixture images, runnable by anyone:
//   TS_NODE_COMPILER_OPTIONS='{"module":"commonjs","moduleResolution":"node"}' npx ts-node --transpile-only bench/pull.ts
// Each run pulls into a fresh, empty store (cacheDir), so every run downloads, verifies, inflates
// and writes every layer. Beside it: GNU `tar -xzf` of the same layer blob into the same file
// system (a control for the disk's state), and `docker pull` when a Docker engine answers.
//
// Settings: BENCH_RUNS (default 5), BENCH_IMAGES (default redis:7,postgres:15), BENCH_DIR (where the
// stores go; default the OS temp dir). Stores are removed only after all runs: on an ext4 without
// a journal (this machine's /), inodes freed in the last minutes make new files slow to allocate
// (ext4 `recently_deleted`), so deleting between runs would measure the deletions.
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { readConfig } from "../src/config";
import { ImageService } from "../src/image/image-service";
import { nativeFixup } from "../src/runtime/embedded/fixup";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFixtureRegistry } = require("../test/fixtures/index.js");

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const IMAGES = (process.env.BENCH_IMAGES ?? "redis:7,postgres:15").split(",").map((s) => s.trim()).filter(Boolean);
const BASE = process.env.BENCH_DIR ?? os.tmpdir();

interface Row {
  image: string;
  runs: number;
  compressedMiB: number;
  uncompressedMiB: number;
  entries: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  tarMedianMs: number | null;
  dockerMedianMs: number | null;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round = (n: number): number => Math.round(n * 10) / 10;

/** One cold pull into an empty store; returns the time and where the largest layer blob is. */
async function coldPull(image: string, host: string, dirs: string[]): Promise<{ ms: number; cacheDir: string; layerBlob: string }> {
  const cacheDir = fs.mkdtempSync(path.join(BASE, "testcell-bench-pull-"));
  dirs.push(cacheDir);
  const config = readConfig({ ...process.env, TESTCELL_REGISTRY_MIRROR: host, TESTCELL_CACHE_DIR: cacheDir });
  const images = new ImageService({ config, fixup: nativeFixup(config.shimPath) });
  const t = performance.now();
  await images.ensure(image);
  const ms = performance.now() - t;
  await images.close();
  const blobs = path.join(cacheDir, "blobs", "sha256");
  const largest = fs.readdirSync(blobs).map((b) => path.join(blobs, b)).sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
  return { ms, cacheDir, layerBlob: largest };
}

/** GNU tar -xzf of the same blob into the same file system. */
function tarExtract(blob: string, dirs: string[]): number {
  const dir = fs.mkdtempSync(path.join(BASE, "testcell-bench-tar-"));
  dirs.push(dir);
  const t = performance.now();
  execFileSync("tar", ["-xzf", blob, "-C", dir]);
  return performance.now() - t;
}

function tarStats(blob: string): { entries: number; bytes: number } {
  const list = execFileSync("sh", ["-c", `gzip -dc < '${blob}' | wc -c; tar -tzf '${blob}' | wc -l`], { encoding: "utf8" }).trim().split(/\s+/);
  return { bytes: Number(list[0]), entries: Number(list[1]) };
}

/** `docker pull` timings when an engine answers, else null. */
function dockerPulls(image: string, host: string): number | null {
  if (spawnSync("docker", ["info"], { stdio: "ignore", timeout: 10_000 }).status !== 0) return null;
  const ref = `${host}/library/${image}`;
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    spawnSync("docker", ["rmi", "-f", ref], { stdio: "ignore" });
    const t = performance.now();
    const r = spawnSync("docker", ["pull", "-q", ref], { stdio: "ignore" });
    if (r.status !== 0) return null;
    xs.push(performance.now() - t);
  }
  spawnSync("docker", ["rmi", "-f", ref], { stdio: "ignore" });
  return median(xs);
}

async function main(): Promise<void> {
  const registry = await startFixtureRegistry();
  const dirs: string[] = [];
  const rows: Row[] = [];
  try {
    for (const image of IMAGES) {
      const pulls: number[] = [];
      const tars: number[] = [];
      let blob = "";
      for (let i = 0; i < RUNS; i++) {
        const run = await coldPull(image, registry.host, dirs);
        pulls.push(run.ms);
        blob = run.layerBlob;
        tars.push(tarExtract(blob, dirs));
        process.stderr.write(`${image} run ${i + 1}: pull+unpack ${run.ms.toFixed(0)} ms, tar -xzf ${tars.at(-1)!.toFixed(0)} ms\n`);
      }
      const stats = tarStats(blob);
      rows.push({
        image,
        runs: RUNS,
        compressedMiB: round(fs.statSync(blob).size / 2 ** 20),
        uncompressedMiB: round(stats.bytes / 2 ** 20),
        entries: stats.entries,
        medianMs: round(median(pulls)),
        minMs: round(Math.min(...pulls)),
        maxMs: round(Math.max(...pulls)),
        tarMedianMs: round(median(tars)),
        dockerMedianMs: ((d) => (d === null ? null : round(d)))(dockerPulls(image, registry.host)),
      });
    }
  } finally {
    await registry.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
  const fsType = spawnSync("stat", ["-f", "-c", "%T", BASE], { encoding: "utf8" }).stdout.trim();
  console.log(`\ncold pull + unpack, store in ${BASE} (${fsType}), ${os.cpus().length} CPUs, Node ${process.version}\n`);
  console.log("| image | layer gz MiB | tar MiB | entries | runs | median ms | min | max | GNU tar -xzf median ms | docker pull median ms |");
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) {
    const docker = r.dockerMedianMs === null ? "n/a (no engine)" : String(r.dockerMedianMs);
    console.log(`| ${r.image} | ${r.compressedMiB} | ${r.uncompressedMiB} | ${r.entries} | ${r.runs} | ${r.medianMs} | ${r.minMs} | ${r.maxMs} | ${r.tarMedianMs} | ${docker} |`);
  }
  console.log("\n" + JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, storeDir: BASE, fs: fsType, rows }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
