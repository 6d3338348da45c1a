// Benchmarks, runnable by anyone: `npm run bench`. Prints a table and JSON; quote medians.
import { Client } from "pg";
import mysql from "mysql2/promise";
import { createClient } from "redis";
import { GenericContainer, MariaDbContainer, PostgreSqlContainer, RedisContainer, Wait } from "../src";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFixtureRegistry } = require("../test/fixtures/index.js");

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Row { name: string; runs: number; medianMs: number; minMs: number; maxMs: number }

async function measure(name: string, runs: number, once: () => Promise<number>): Promise<Row> {
  const xs: number[] = [];
  for (let i = 0; i < runs; i++) xs.push(await once());
  const row = { name, runs, medianMs: +median(xs).toFixed(2), minMs: +Math.min(...xs).toFixed(2), maxMs: +Math.max(...xs).toFixed(2) };
  console.log(`  ${name}: median ${row.medianMs} ms (min ${row.minMs}, max ${row.maxMs}, ${runs} runs)`);
  return row;
}

async function main(): Promise<void> {
  const registry = await startFixtureRegistry();
  process.env.TESTCELL_REGISTRY_MIRROR = registry.host;
  try {
    // warm the image store once, so the figures are start costs, not pulls
    await (await new GenericContainer("busybox").withCommand(["true"]).start()).stop();
    const stops: number[] = [];
    const rows: Row[] = [];
    rows.push(
      await measure("busybox start-to-ready (sleep, ready at start)", RUNS, async () => {
        const t = performance.now();
        const c = await new GenericContainer("busybox").withCommand(["sleep", "60"]).start();
        const d = performance.now() - t;
        const s = performance.now();
        await c.stop();
        stops.push(performance.now() - s);
        return d;
      }),
    );
    rows.push({ name: "busybox stop (SIGKILL, timeout 0) + remove", runs: stops.length, medianMs: +median(stops).toFixed(2), minMs: +Math.min(...stops).toFixed(2), maxMs: +Math.max(...stops).toFixed(2) });
    rows.push(
      await measure("busybox start-to-log-line (echo ready)", RUNS, async () => {
        const t = performance.now();
        const c = await new GenericContainer("busybox").withCommand(["sh", "-c", "echo ready; sleep 60"]).withWaitStrategy(Wait.forLogMessage("ready")).start();
        const d = performance.now() - t;
        await c.stop();
        return d;
      }),
    );
    rows.push(
      await measure("busybox run `true` to exit (start + wait for exit)", RUNS, async () => {
        const t = performance.now();
        const c = await new GenericContainer("busybox").withCommand(["true"]).start();
        await c.stop({ timeout: 10_000 });
        return performance.now() - t;
      }),
    );
    const dbRuns = Number(process.env.BENCH_DB_RUNS ?? 5);
    rows.push(
      await measure("redis module start-to-PING (redis client)", RUNS, async () => {
        const t = performance.now();
        const r = await new RedisContainer().start();
        const client = createClient({ url: r.getConnectionUrl() });
        await client.connect();
        await client.ping();
        const d = performance.now() - t;
        await client.quit();
        await r.stop();
        return d;
      }),
    );
    rows.push(
      await measure("postgres module start-to-first-query (pg client)", dbRuns, async () => {
        const t = performance.now();
        const pg = await new PostgreSqlContainer().start();
        const client = new Client({ connectionString: pg.getConnectionUri() });
        await client.connect();
        await client.query("select 1");
        const d = performance.now() - t;
        await client.end();
        await pg.stop();
        return d;
      }),
    );
    rows.push(
      await measure("mariadb module start-to-first-query (mysql2)", dbRuns, async () => {
        const t = performance.now();
        const db = await new MariaDbContainer().start();
        const conn = await mysql.createConnection(db.getConnectionUri().replace(/^mariadb:/, "mysql:"));
        await conn.query("select 1");
        const d = performance.now() - t;
        await conn.end();
        await db.stop();
        return d;
      }),
    );
    {
      const pg = await new PostgreSqlContainer().start();
      const client = new Client({ connectionString: pg.getConnectionUri() });
      await client.connect();
      await client.query("create table t as select g as x from generate_series(1, 10000) g");
      await client.end();
      rows.push(await measure("postgres snapshot()", dbRuns, async () => { const t = performance.now(); await pg.snapshot(); return performance.now() - t; }));
      rows.push(await measure("postgres restoreSnapshot()", dbRuns, async () => { const t = performance.now(); await pg.restoreSnapshot(); return performance.now() - t; }));
      await pg.stop();
    }
    console.log("\n| benchmark | runs | median ms | min | max |\n| --- | --- | --- | --- | --- |");
    for (const r of rows) console.log(`| ${r.name} | ${r.runs} | ${r.medianMs} | ${r.minMs} | ${r.maxMs} |`);
    console.log("\n" + JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2));
  } finally {
    await registry.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
