/**
 * Registry authentication (distribution `docs/spec/auth/token.md`): parse the
 * `WWW-Authenticate` challenge of a 401, fetch a Bearer token from its realm (anonymously or with
 * Basic credentials), cache it per scope until it expires, or answer a Basic challenge directly.
 */
import createDebug from "debug";
import type { Dispatcher } from "undici";
import { tcError } from "../errors";
import { isLoopbackHost } from "./reference";
import { parseRegistryErrors, statusError } from "./registry-errors";

const debug = createDebug("testcell:pull");

/** Username and password (or token) for one registry. */
export interface RegistryCredentials {
  username: string;
  password: string;
  /** An OAuth2 refresh token (`identitytoken` of `docker login`), exchanged at the token realm by POST. */
  identityToken?: string;
}

/** One challenge of a `WWW-Authenticate` header. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Sends one request (with retries and redirects) on behalf of the token flow: a GET, or a POST with a form body. */
export type TokenFetcher = (
  url: string,
  headers: Record<string, string>,
  image: string,
  signal?: AbortSignal,
  form?: URLSearchParams,
) => Promise<Dispatcher.ResponseData>;

const DEFAULT_TOKEN_LIFETIME_S = 60;
const EXPIRY_MARGIN_MS = 5_000;

/** Parses `Bearer realm="…",service="…",scope="…"` (possibly several challenges, quoted commas). */
export function parseWwwAuthenticate(header: string | string[] | undefined): AuthChallenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: AuthChallenge[] = [];
  const token = /\s*([A-Za-z][A-Za-z0-9._~+/-]*)(?:\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?\s*(,)?/y;
  for (const value of values) {
    token.lastIndex = 0;
    let current: AuthChallenge | undefined;
    let m: RegExpExecArray | null;
    while (token.lastIndex < value.length && (m = token.exec(value)) !== null) {
      const [, name, quoted, bare] = m;
      if (quoted === undefined && bare === undefined) {
        current = { scheme: name!.toLowerCase(), params: {} };
        out.push(current);
      } else if (current) {
        current.params[name!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : bare!;
      }
      if (m[0] === "") break;
    }
  }
  return out;
}

/** Per-registry auth state: the challenge learnt, and tokens cached per scope. */
export class RegistryAuth {
  private bearer: { realm: string; service?: string } | undefined;
  private basic = false;
  private readonly tokens = new Map<string, { value: string; expiresAt: number }>();
  /** Token requests in flight, so parallel layer downloads share one. */
  private readonly pending = new Map<string, Promise<string>>();

  constructor(
    private readonly host: string,
    private readonly plainHttp: boolean,
    private readonly credentials: RegistryCredentials | undefined,
    private readonly fetcher: TokenFetcher,
  ) {}

  /** The Authorization header to send for `scope` before any 401, or undefined (anonymous). */
  async header(scope: string | undefined, image: string, signal?: AbortSignal): Promise<string | undefined> {
    if (this.basic && hasPassword(this.credentials)) return basicHeader(this.credentials);
    if (!this.bearer) return undefined;
    const cached = this.tokens.get(scope ?? "");
    if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.value}`;
    return `Bearer ${await this.fetchToken(scope === undefined ? [] : [scope], scope ?? "", image, signal)}`;
  }

  /** Answers a 401's challenge: a fresh header to retry with, or undefined when there is no way in. */
  async answer(wwwAuthenticate: string | string[] | undefined, scope: string | undefined, image: string, signal?: AbortSignal): Promise<string | undefined> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === "bearer" && c.params.realm);
    if (bearer) {
      this.bearer = { realm: bearer.params.realm!, ...(bearer.params.service ? { service: bearer.params.service } : {}) };
      this.tokens.delete(scope ?? "");
      // The challenge's scope first: some registries only read the first scope parameter.
      const scopes = [...new Set([bearer.params.scope, scope].filter((s): s is string => !!s))];
      return `Bearer ${await this.fetchToken(scopes, scope ?? "", image, signal)}`;
    }
    if (challenges.some((c) => c.scheme === "basic") && hasPassword(this.credentials)) {
      this.basic = true;
      return basicHeader(this.credentials);
    }
    return undefined;
  }

  private fetchToken(scopes: string[], key: string, image: string, signal?: AbortSignal): Promise<string> {
    let pending = this.pending.get(key);
    if (!pending) {
      pending = this.requestToken(scopes, key, image, signal).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    return pending;
  }

  private async requestToken(scopes: string[], key: string, image: string, signal?: AbortSignal): Promise<string> {
    const { realm, service } = this.bearer!;
    const url = this.realmUrl(realm, image);
    const refresh = this.credentials?.identityToken;
    let res: Dispatcher.ResponseData;
    if (refresh) {
      // OAuth2 refresh-token grant (distribution `docs/spec/auth/oauth.md`), as the Docker CLI does with an identity token
      const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: refresh, client_id: "testcell", ...(service ? { service } : {}) });
      if (scopes.length) form.set("scope", scopes.join(" "));
      debug("token request %s (scopes %o, identity token)", url.origin + url.pathname, scopes);
      res = await this.fetcher(url.href, { "content-type": "application/x-www-form-urlencoded" }, image, signal, form);
    } else {
      if (service) url.searchParams.set("service", service);
      for (const s of scopes) url.searchParams.append("scope", s);
      const headers: Record<string, string> = {};
      if (hasPassword(this.credentials)) headers.authorization = basicHeader(this.credentials);
      debug("token request %s (scopes %o, %s)", url.origin + url.pathname, scopes, this.credentials ? "with credentials" : "anonymous");
      res = await this.fetcher(url.href, headers, image, signal);
    }
    const body = Buffer.from(await res.body.arrayBuffer());
    const ctx = { host: this.host, image, what: `auth token (from ${url.host})`, method: refresh ? "POST" : "GET", url: url.href, withCredentials: !!this.credentials };
    if (res.statusCode !== 200) throw statusError(res.statusCode, parseRegistryErrors(body), ctx);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString("utf8")) as typeof doc;
    } catch {
      doc = {};
    }
    const token = typeof doc.token === "string" && doc.token ? doc.token : doc.access_token;
    if (typeof token !== "string" || token === "") {
      throw tcError("TC_ERR_REGISTRY_RESPONSE", `token service ${url.host} of registry ${this.host} answered without a token for ${image}: the registry's auth setup is broken`, {
        context: { image, registry: this.host },
      });
    }
    const lifetime = typeof doc.expires_in === "number" && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_LIFETIME_S;
    this.tokens.set(key, { value: token, expiresAt: Date.now() + lifetime * 1000 - EXPIRY_MARGIN_MS });
    return token;
  }

  /** The realm as a URL; credentials never travel in clear text to a non-loopback realm of an HTTPS registry. */
  private realmUrl(realm: string, image: string): URL {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      url = new URL("invalid:");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw tcError("TC_ERR_REGISTRY_RESPONSE", `registry ${this.host} sent an unusable token realm \`${realm}\` for ${image}: expected an http(s) URL`, {
        context: { image, registry: this.host },
      });
    }
    if (url.protocol === "http:" && this.credentials && !this.plainHttp && !isLoopbackHost(url.host)) {
      throw tcError(
        "TC_ERR_PULL_UNAUTHORIZED",
        `registry ${this.host} asks for credentials at a plain-HTTP token realm (${url.origin}) for ${image}: refusing to send them unencrypted; fix the registry's auth realm`,
        { context: { image, registry: this.host } },
      );
    }
    return url;
  }
}

function hasPassword(c: RegistryCredentials | undefined): c is RegistryCredentials {
  return c !== undefined && (c.username !== "" || c.password !== "");
}

function basicHeader(c: RegistryCredentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString("base64")}`;
}
