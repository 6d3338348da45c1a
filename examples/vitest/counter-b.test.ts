// Runs in its own worker; talks to the Redis that globalSetup provided.
import { createClient } from "redis";
import { expect, inject, test } from "vitest";

test("worker b increments the shared counter", async () => {
  const client = createClient({ url: inject("redisUrl") });
  await client.connect();
  try {
    const n = await client.incr("runs");
    expect(n).toBeGreaterThanOrEqual(1);
    expect(await client.ping()).toBe("PONG");
  } finally {
    await client.quit();
  }
});
