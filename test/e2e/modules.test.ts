import mysql from "mysql2/promise";
import { Client } from "pg";
import { createClient } from "redis";
import { MariaDbContainer, MySqlContainer, PostgreSqlContainer, RedisContainer } from "../../src";

jest.setTimeout(180_000);

describe("database modules answer real clients", () => {
  it("PostgreSqlContainer: pg runs queries; snapshot and restore bring data back", async () => {
    await using pg = await new PostgreSqlContainer().start();
    expect(pg.getConnectionUri()).toBe(`postgres://test:test@127.0.0.1:${pg.getPort()}/test`);
    const client = new Client({ connectionString: pg.getConnectionUri() });
    await client.connect();
    try {
      expect((await client.query("select current_user, current_database()")).rows).toEqual([{ current_user: "test", current_database: "test" }]);
      await client.query("create table t (x int); insert into t values (1)");
      expect((await client.query("show fsync")).rows[0].fsync).toBe("off");
    } finally {
      await client.end();
    }
    await pg.snapshot();
    const c2 = new Client({ connectionString: pg.getConnectionUri() });
    await c2.connect();
    await c2.query("insert into t values (2), (3)");
    expect((await c2.query("select count(*)::int as n from t")).rows[0].n).toBe(3);
    await c2.end();
    await pg.restoreSnapshot();
    const c3 = new Client({ connectionString: pg.getConnectionUri() });
    await c3.connect();
    expect((await c3.query("select count(*)::int as n from t")).rows[0].n).toBe(1);
    await c3.end();
  });

  it("two postgres containers at once, each on its own mapped port", async () => {
    const [a, b] = await Promise.all([new PostgreSqlContainer().withDatabase("a").start(), new PostgreSqlContainer().withDatabase("b").start()]);
    try {
      expect(a.getPort()).not.toBe(b.getPort());
      for (const [c, db] of [[a, "a"], [b, "b"]] as const) {
        const client = new Client({ connectionString: c.getConnectionUri() });
        await client.connect();
        expect((await client.query("select current_database() as d")).rows[0].d).toBe(db);
        await client.end();
      }
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("RedisContainer: the redis client sets and gets; a password is enforced", async () => {
    await using redis = await new RedisContainer().withPassword("s3cret").start();
    const client = createClient({ url: redis.getConnectionUrl() });
    await client.connect();
    try {
      await client.set("k", "v");
      expect(await client.get("k")).toBe("v");
    } finally {
      await client.quit();
    }
    expect(await redis.executeCliCmd("ping")).toContain("PONG");
    const anonymous = createClient({ url: `redis://${redis.getHost()}:${redis.getPort()}` });
    anonymous.on("error", () => undefined);
    await anonymous.connect();
    await expect(anonymous.get("k")).rejects.toThrow(/NOAUTH/);
    await anonymous.quit().catch(() => undefined);
  });

  it("MariaDbContainer: mysql2 runs queries as the test user and as root", async () => {
    await using db = await new MariaDbContainer().start();
    const conn = await mysql.createConnection(db.getConnectionUri().replace(/^mariadb:/, "mysql:"));
    try {
      const [rows] = await conn.query("select current_user() as u, database() as d, version() as v");
      expect(rows).toEqual([{ u: "test@%", d: "test", v: expect.stringContaining("MariaDB") }]);
    } finally {
      await conn.end();
    }
    const root = await mysql.createConnection(db.getConnectionUri(true).replace(/^mariadb:/, "mysql:"));
    await root.end();
    expect(await db.executeQuery("select 40 + 2 as answer")).toContain("42");
  });

  it("MySqlContainer speaks to a MySQL-compatible image with MYSQL_* settings", async () => {
    await using db = await new MySqlContainer("mariadb:10.11").withDatabase("shop").withUsername("app").withUserPassword("pw").start();
    expect(db.getConnectionUri()).toBe(`mysql://app:pw@127.0.0.1:${db.getPort()}/shop`);
    const conn = await mysql.createConnection(db.getConnectionUri());
    const [rows] = await conn.query("select database() as d");
    expect(rows).toEqual([{ d: "shop" }]);
    await conn.end();
  });
});
