/**
 * PostgreSQL, as testcontainers' @testcontainers/postgresql: database, user and password
 * default to `test`; durability is traded for speed (fsync off), which is safe for throwaway data.
 */
import { GenericContainer } from "../container/generic-container";
import { AbstractStartedContainer, type StartedTestContainer } from "../container/started-container";
import { tcError } from "../errors";
import { Wait } from "../wait/wait";

const PORT = 5432;

export class PostgreSqlContainer extends GenericContainer {
  private database = "test";
  private username = "test";
  private password = "test";

  constructor(image = "postgres:15") {
    super(image);
    this.withExposedPorts(PORT)
      .withCommand(["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
      .withWaitStrategy(Wait.forAll([Wait.forLogMessage("database system is ready to accept connections", 2), Wait.forListeningPorts()]))
      .withStartupTimeout(120_000);
  }

  withDatabase(database: string): this {
    this.database = database;
    return this;
  }

  withUsername(username: string): this {
    this.username = username;
    return this;
  }

  withPassword(password: string): this {
    this.password = password;
    return this;
  }

  override async start(): Promise<StartedPostgreSqlContainer> {
    this.withEnvironment({ POSTGRES_DB: this.database, POSTGRES_USER: this.username, POSTGRES_PASSWORD: this.password });
    return new StartedPostgreSqlContainer(await super.start(), this.database, this.username, this.password);
  }
}

export class StartedPostgreSqlContainer extends AbstractStartedContainer {
  private snapshotName = "migrated_template";

  constructor(
    started: StartedTestContainer,
    private readonly database: string,
    private readonly username: string,
    private readonly password: string,
  ) {
    super(started);
  }

  getPort(): number {
    return this.getMappedPort(PORT);
  }

  getDatabase(): string {
    return this.database;
  }

  getUsername(): string {
    return this.username;
  }

  getPassword(): string {
    return this.password;
  }

  /** `postgres://user:password@127.0.0.1:port/database` */
  getConnectionUri(): string {
    const u = encodeURIComponent(this.username);
    const p = encodeURIComponent(this.password);
    return `postgres://${u}:${p}@${this.getHost()}:${this.getPort()}/${encodeURIComponent(this.database)}`;
  }

  /** Saves the database as a template, so restoreSnapshot() can bring it back fast. */
  async snapshot(snapshotName = this.snapshotName): Promise<void> {
    this.snapshotName = snapshotName;
    await this.psql("postgres", [
      `DROP DATABASE IF EXISTS "${snapshotName}"`,
      `ALTER DATABASE "${this.database}" WITH is_template = FALSE`,
      `CREATE DATABASE "${snapshotName}" WITH TEMPLATE "${this.database}" OWNER "${this.username}"`,
    ]);
  }

  /** Replaces the database with the last snapshot; other connections to it are closed. */
  async restoreSnapshot(snapshotName = this.snapshotName): Promise<void> {
    await this.psql("postgres", [
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${this.database}' AND pid <> pg_backend_pid()`,
      `DROP DATABASE "${this.database}"`,
      `CREATE DATABASE "${this.database}" WITH TEMPLATE "${snapshotName}" OWNER "${this.username}"`,
    ]);
  }

  private async psql(db: string, statements: string[]): Promise<void> {
    for (const sql of statements) {
      const r = await this.exec(["psql", "-v", "ON_ERROR_STOP=1", "-U", this.username, "-d", db, "-c", sql]);
      if (r.exitCode !== 0) throw tcError("TC_ERR_RUNTIME", `psql failed (${sql}): ${r.stderr.trim()}`);
    }
  }
}
