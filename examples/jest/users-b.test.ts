// Runs in its own worker; uses the PostgreSQL that globalSetup started once for the run.
import { Client } from "pg";

test("worker b reaches the shared database", async () => {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query("create table if not exists seen (worker text, pid int)");
    await client.query("insert into seen values ($1, $2)", ["b", process.pid]);
    const { rows } = await client.query("select current_database() as db");
    expect(rows[0].db).toBe("test");
  } finally {
    await client.end();
  }
});
