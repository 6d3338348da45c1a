/**
 * MariaDB and MySQL, as testcontainers' @testcontainers/mariadb and @testcontainers/mysql:
 * database, user and password default to `test`, the root password to `test` as well.
 */
import { GenericContainer } from "../container/generic-container";
import { AbstractStartedContainer, type StartedTestContainer } from "../container/started-container";
import { Wait } from "../wait/wait";

const PORT = 3306;

abstract class SqlServerContainer extends GenericContainer {
  protected database = "test";
  protected username = "test";
  protected userPassword = "test";
  protected rootPassword = "test";

  constructor(image: string, readyLine: string) {
    super(image);
    this.withExposedPorts(PORT)
      .withWaitStrategy(Wait.forAll([Wait.forLogMessage(readyLine, 2), Wait.forListeningPorts()]))
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

  withUserPassword(password: string): this {
    this.userPassword = password;
    return this;
  }

  withRootPassword(password: string): this {
    this.rootPassword = password;
    return this;
  }

  protected credentials(): StartedSqlServerContainerArgs {
    return { database: this.database, username: this.username, userPassword: this.userPassword, rootPassword: this.rootPassword };
  }
}

interface StartedSqlServerContainerArgs {
  database: string;
  username: string;
  userPassword: string;
  rootPassword: string;
}

export class StartedMariaDbContainer extends AbstractStartedContainer {
  constructor(
    started: StartedTestContainer,
    private readonly args: StartedSqlServerContainerArgs,
    private readonly scheme: "mariadb" | "mysql",
  ) {
    super(started);
  }

  getPort(): number {
    return this.getMappedPort(PORT);
  }

  getDatabase(): string {
    return this.args.database;
  }

  getUsername(): string {
    return this.args.username;
  }

  getUserPassword(): string {
    return this.args.userPassword;
  }

  getRootPassword(): string {
    return this.args.rootPassword;
  }

  /** `mariadb://user:password@127.0.0.1:port/database` (`mysql://` for MySqlContainer). */
  getConnectionUri(isRoot = false): string {
    const user = isRoot ? "root" : this.args.username;
    const password = isRoot ? this.args.rootPassword : this.args.userPassword;
    return `${this.scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${this.getHost()}:${this.getPort()}/${encodeURIComponent(this.args.database)}`;
  }

  /** Runs a query with the command-line client inside the container; returns its output. */
  async executeQuery(query: string, additionalFlags: string[] = []): Promise<string> {
    const client = this.scheme === "mariadb" ? "mariadb" : "mysql";
    const r = await this.exec([client, "-h", "127.0.0.1", "-u", this.args.username, `-p${this.args.userPassword}`, "-e", query, this.args.database, ...additionalFlags]);
    return r.output;
  }
}

export class MariaDbContainer extends SqlServerContainer {
  constructor(image = "mariadb:10.11") {
    super(image, "mariadbd: ready for connections.");
  }

  override async start(): Promise<StartedMariaDbContainer> {
    const c = this.credentials();
    this.withEnvironment({ MARIADB_DATABASE: c.database, MARIADB_ROOT_PASSWORD: c.rootPassword, ...(c.username === "root" ? {} : { MARIADB_USER: c.username, MARIADB_PASSWORD: c.userPassword }) });
    return new StartedMariaDbContainer(await super.start(), c, "mariadb");
  }
}

export class MySqlContainer extends SqlServerContainer {
  constructor(image = "mysql:8.0") {
    // MySQL logs "ready for connections" twice as well (temporary and real server); MariaDB
    // images (which speak the same protocol and honour MYSQL_* variables) print it as "mariadbd: ..."
    super(image, "ready for connections");
  }

  override async start(): Promise<StartedMySqlContainer> {
    const c = this.credentials();
    this.withEnvironment({ MYSQL_DATABASE: c.database, MYSQL_ROOT_PASSWORD: c.rootPassword, ...(c.username === "root" ? {} : { MYSQL_USER: c.username, MYSQL_PASSWORD: c.userPassword }) });
    return new StartedMariaDbContainer(await super.start(), c, "mysql");
  }
}

export type StartedMySqlContainer = StartedMariaDbContainer;
