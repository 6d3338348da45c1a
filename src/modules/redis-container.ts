/**
 * Redis, as testcontainers' @testcontainers/redis.
 */
import { GenericContainer } from "../container/generic-container";
import { AbstractStartedContainer, type StartedTestContainer } from "../container/started-container";
import { Wait } from "../wait/wait";

const PORT = 6379;

export class RedisContainer extends GenericContainer {
  private password: string | undefined;

  constructor(image = "redis:7") {
    super(image);
    this.withExposedPorts(PORT).withWaitStrategy(Wait.forAll([Wait.forLogMessage("Ready to accept connections"), Wait.forListeningPorts()]));
  }

  withPassword(password: string): this {
    this.password = password;
    return this;
  }

  override async start(): Promise<StartedRedisContainer> {
    if (this.password) this.withCommand(["redis-server", "--requirepass", this.password]);
    return new StartedRedisContainer(await super.start(), this.password);
  }
}

export class StartedRedisContainer extends AbstractStartedContainer {
  constructor(
    started: StartedTestContainer,
    private readonly password: string | undefined,
  ) {
    super(started);
  }

  getPort(): number {
    return this.getMappedPort(PORT);
  }

  getPassword(): string {
    return this.password ?? "";
  }

  /** `redis://[:password@]127.0.0.1:port` */
  getConnectionUrl(): string {
    const auth = this.password ? `:${encodeURIComponent(this.password)}@` : "";
    return `redis://${auth}${this.getHost()}:${this.getPort()}`;
  }

  /** Runs redis-cli inside the container with the given arguments; returns its output. */
  async executeCliCmd(cmd: string, additionalFlags: string[] = []): Promise<string> {
    const auth = this.password ? ["-a", this.password, "--no-auth-warning"] : [];
    const r = await this.exec(["redis-cli", ...auth, cmd, ...additionalFlags]);
    return r.output;
  }
}
