/**
 * Ready when an HTTP(S) request to a published port answers as expected (2xx by default), as
 * testcontainers' Wait.forHttp, polled quickly rather than once per read timeout.
 */
import { Agent, request, type Dispatcher } from "undici";
import { tcError } from "../errors";
import { pollUntil } from "./poll";
import { AbstractWaitStrategy, type ContainerHandle } from "./wait-strategy";

const POLL_MS = 25;

export class HttpWaitStrategy extends AbstractWaitStrategy {
  private method = "GET";
  private headers: Record<string, string> = {};
  private statusCheck: (status: number) => boolean = (s) => s >= 200 && s < 300;
  private bodyCheck: ((body: string) => boolean) | undefined;
  private readTimeoutMs = 1000;
  private tls = false;
  private insecure = false;

  constructor(
    private readonly path: string,
    private readonly port: number | string,
  ) {
    super();
  }

  forStatusCode(code: number): this {
    this.statusCheck = (s) => s === code;
    return this;
  }

  forStatusCodeMatching(predicate: (status: number) => boolean): this {
    this.statusCheck = predicate;
    return this;
  }

  forResponsePredicate(predicate: (body: string) => boolean): this {
    this.bodyCheck = predicate;
    return this;
  }

  withMethod(method: string): this {
    this.method = method;
    return this;
  }

  withHeaders(headers: Record<string, string>): this {
    Object.assign(this.headers, headers);
    return this;
  }

  withBasicCredentials(username: string, password: string): this {
    this.headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}`;
    return this;
  }

  withReadTimeout(ms: number): this {
    this.readTimeoutMs = ms;
    return this;
  }

  usingTls(): this {
    this.tls = true;
    return this;
  }

  allowInsecure(): this {
    this.insecure = true;
    return this;
  }

  describe(): string {
    return `HTTP ${this.method} ${this.path} on port ${this.port}`;
  }

  async waitUntilReady(container: ContainerHandle, signal: AbortSignal): Promise<void> {
    const key = typeof this.port === "number" ? `${this.port}/tcp` : this.port.includes("/") ? this.port : `${this.port}/tcp`;
    const host = container.mappedPorts.get(key);
    if (host === undefined) throw tcError("TC_ERR_NO_PORT_BINDING", `Wait.forHttp: port ${key} is not exposed; add it with withExposedPorts()`);
    const url = `${this.tls ? "https" : "http"}://127.0.0.1:${host}${this.path.startsWith("/") ? "" : "/"}${this.path}`;
    const dispatcher: Dispatcher = new Agent({ connect: { rejectUnauthorized: !this.insecure }, headersTimeout: this.readTimeoutMs, bodyTimeout: this.readTimeoutMs });
    try {
      await pollUntil(() => this.attempt(url, dispatcher, signal), POLL_MS, signal);
    } finally {
      await dispatcher.close().catch(() => undefined);
    }
  }

  private async attempt(url: string, dispatcher: Dispatcher, signal: AbortSignal): Promise<boolean> {
    try {
      const res = await request(url, { method: this.method as Dispatcher.HttpMethod, headers: this.headers, dispatcher, signal });
      const body = await res.body.text();
      return this.statusCheck(res.statusCode) && (!this.bodyCheck || this.bodyCheck(body));
    } catch {
      return false;
    }
  }
}
