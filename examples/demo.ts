// The main job: start real containers from the local fixture registry and show them working.
// Run with `npm run demo` (it builds the native helper and the fixture images first).
import { GenericContainer, Wait } from "../src";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { startFixtureRegistry } = require("../test/fixtures/index.js");

async function main(): Promise<void> {
  const registry = await startFixtureRegistry();
  process.env.TESTCELL_REGISTRY_MIRROR = registry.host;
  console.log(`fixture registry on ${registry.host} (Docker Hub names map onto it)`);
  try {
    let t = Date.now();
    {
      await using busybox = await new GenericContainer("busybox:1.35").withCommand(["sleep", "60"]).start();
      console.log(`busybox ${busybox.getId().slice(0, 12)} started in ${Date.now() - t} ms`);
      const r = await busybox.exec(["sh", "-c", "echo pid 1 is $(cat /proc/1/comm), hostname $(hostname), uid $(id -u)"]);
      console.log(`  exec -> ${r.stdout.trim()} (exit ${r.exitCode})`);
    }
    t = Date.now();
    {
      await using redis = await new GenericContainer("redis:7").withWaitStrategy(Wait.forLogMessage("Ready to accept connections")).start();
      console.log(`redis ${redis.getId().slice(0, 12)} ready in ${Date.now() - t} ms`);
      const ping = await redis.exec(["redis-cli", "ping"]);
      console.log(`  redis-cli ping -> ${ping.stdout.trim()}`);
      const set = await redis.exec(["redis-cli", "set", "greeting", "hello from testcell"]);
      const get = await redis.exec(["redis-cli", "get", "greeting"]);
      console.log(`  set -> ${set.stdout.trim()}, get -> ${get.stdout.trim()}`);
    }
    t = Date.now();
    {
      await using pg = await new GenericContainer("postgres:15")
        .withEnvironment({ POSTGRES_PASSWORD: "pw" })
        .withWaitStrategy(Wait.forLogMessage("database system is ready to accept connections", 2))
        .start();
      console.log(`postgres ${pg.getId().slice(0, 12)} ready in ${Date.now() - t} ms`);
      const q = await pg.exec(["psql", "-U", "postgres", "-tAc", "select version()"]);
      console.log(`  psql -> ${q.stdout.trim()}`);
    }
    console.log("all containers stopped and removed");
  } finally {
    await registry.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
