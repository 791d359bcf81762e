import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { discard, headerValue, isTlsHandshakeFailure, type HttpClient, type HttpResponse } from '../net/http.js';
import { isLoopbackHost } from '../net/loopback.js';
import { RetryableError, parseRetryAfter, withRetry, type RetryPolicy } from '../net/retry.js';
import { RegistryAuth, noCredentials, repositoryScope, wrongCredentials, type AuthOutcome } from './auth.js';
import type { CredentialStore } from './credentials.js';
import { registryApiHost } from './reference.js';

/**
 * The distribution API transport under pull, push and list: one request with auth (a token up
 * front when known, a 401 answered once), the loopback plain-HTTP fallback, the retry policy,
 * and the one place a non-success response becomes an error naming the artifact.
 */
export interface RepoRef {
  /** Registry as written in references (docker.io → registry-1.docker.io internally). */
  registry: string;
  repository: string;
}

export interface RegistryClientOptions {
  http: HttpClient;
  credentials?: CredentialStore;
  /**
   * Hosts to talk plain HTTP to. When given it decides alone; when absent, loopback hosts
   * fall back to http:// if the TLS handshake fails (as docker does for localhost).
   */
  plainHttp?: (host: string) => boolean;
  retry?: RetryPolicy;
  onRetry?: (message: string) => void;
  /** Blobs above this size are pushed in chunks of this size (default 64 MiB). */
  chunkSize?: number;
  /** Largest manifest accepted (default 16 MiB; the spec allows 4 MiB). */
  maxManifestBytes?: number;
}

/** Who a request acts for: the registry, the repository (if any) and the token scopes it needs. */
export interface SendContext {
  repo?: RepoRef;
  registry: string;
  scopes: string[];
}

export interface SendOptions {
  headers?: Record<string, string>;
  body?: Buffer | string | Readable;
  maxRedirects?: number;
  /** The URL whose answer named `target` (a tag list's next-page Link): held to net/http.ts `namedBy`'s rule. */
  namedBy?: string;
}

interface DistributionError {
  code?: string;
  message?: string;
  detail?: unknown;
}

/** The most of an error answer read: a distribution error list is a few hundred bytes. */
const MAX_ERROR_BODY = 64 * 1024;

async function readErrorBody(res: HttpResponse): Promise<DistributionError[]> {
  try {
    // Only the first 64 KiB are read: an error body that never ends is cut off, not drained.
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res.body) {
      chunks.push(c as Buffer);
      n += (c as Buffer).length;
      if (n > MAX_ERROR_BODY) {
        res.body.destroy();
        return [];
      }
    }
    const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { errors?: DistributionError[] };
    return Array.isArray(j.errors) ? j.errors : [];
  } catch {
    return [];
  }
}

export function sha256(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export function isDigest(ref: string): boolean {
  return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(ref) && ref.includes(':');
}

/** `registry/repository`, with `:tag` or `@digest` when a reference is given. */
export function repoLabel(repo: RepoRef, reference?: string): string {
  const base = `${repo.registry}/${repo.repository}`;
  if (!reference) return base;
  return isDigest(reference) ? `${base}@${reference}` : `${base}:${reference}`;
}

export function pullContext(repo: RepoRef): SendContext {
  return { repo, registry: repo.registry, scopes: [repositoryScope(repo.repository, 'pull')] };
}

export function pushContext(repo: RepoRef, mountFrom?: string): SendContext {
  const scopes = [repositoryScope(repo.repository, 'pull,push')];
  if (mountFrom) scopes.push(repositoryScope(mountFrom, 'pull'));
  return { repo, registry: repo.registry, scopes };
}

export class RegistryTransport {
  readonly http: HttpClient;
  readonly auth: RegistryAuth;
  readonly opts: RegistryClientOptions;
  private readonly schemes = new Map<string, 'http' | 'https'>();

  constructor(opts: RegistryClientOptions) {
    this.opts = opts;
    this.http = opts.http;
    this.auth = new RegistryAuth({ http: opts.http, credentials: opts.credentials });
  }

  retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return withRetry(what, fn, this.opts.retry, this.opts.onRetry);
  }

  private scheme(host: string): 'http' | 'https' {
    const known = this.schemes.get(host);
    if (known) return known;
    if (this.opts.plainHttp) return this.opts.plainHttp(host) ? 'http' : 'https';
    return 'https';
  }

  /** Base URL of a registry's API (`https://registry-1.docker.io`). */
  baseUrl(registry: string): string {
    const host = registryApiHost(registry);
    return `${this.scheme(host)}://${host}`;
  }

  /** The registry refused the credentials it was given (or asked for ones there are none of). */
  private async refused(ctx: SendContext, host: string, outcome: AuthOutcome): Promise<never> {
    const repository = ctx.repo?.repository;
    const lookup = outcome.lookup ?? (await this.auth.lookup(ctx.registry, repository));
    this.auth.invalidate(host, ctx.scopes);
    throw lookup.credential ? wrongCredentials(ctx.registry, repository, lookup) : noCredentials(ctx.registry, repository, lookup);
  }

  /** One request with auth (token up front when known, answer a 401 once) and the loopback http fallback. */
  async send(ctx: SendContext, method: string, target: string, opts: SendOptions = {}): Promise<HttpResponse> {
    const host = registryApiHost(ctx.registry);
    const attempt = async (): Promise<HttpResponse> => {
      const origin = `${this.scheme(host)}://${host}`;
      const url = /^https?:\/\//.test(target) ? target : origin + target;
      // Credentials go only where they were given: the registry's scheme, host and port. An upload
      // Location that names the same host over plain http (a downgrade) gets none.
      const sameOrigin = new URL(url).origin === new URL(origin).origin;
      const repository = ctx.repo?.repository;
      const headers = { ...(opts.headers ?? {}) };
      if (sameOrigin) {
        const h = await this.auth.headerFor(host, ctx.scopes, repository);
        if (h) headers.authorization = h;
      }
      const res = await this.http.request(url, { method, headers, body: opts.body, maxRedirects: opts.maxRedirects, reuseAfterHead: true, namedBy: opts.namedBy });
      if (res.status !== 401 || !sameOrigin) return res;
      const challenge = headerValue(res.headers, 'www-authenticate');
      await discard(res.body);
      const hadHeader = !!headers.authorization;
      const outcome = await this.auth.respond(host, ctx.registry, challenge, ctx.scopes, repository, url.startsWith('https:'));
      if (hadHeader && outcome.header === headers.authorization) return this.refused(ctx, host, outcome);
      if (opts.body instanceof Readable) {
        // The body went with the refused request; the caller's retry reopens it with the new token.
        opts.body.destroy();
        throw new RetryableError(`${method} ${url}: token expired during the upload`);
      }
      const retried = await this.http.request(url, { method, headers: { ...headers, authorization: outcome.header }, body: opts.body, maxRedirects: opts.maxRedirects, reuseAfterHead: true, namedBy: opts.namedBy });
      if (retried.status === 401) {
        await discard(retried.body);
        return this.refused(ctx, host, outcome);
      }
      return retried;
    };
    let res: HttpResponse;
    try {
      res = await attempt();
    } catch (err) {
      if (!this.opts.plainHttp && this.schemes.get(host) !== 'https' && isLoopbackHost(host) && isTlsHandshakeFailure(err)) {
        // (Concurrent first requests may all fail the handshake; each retries over HTTP.)
        // Like docker for localhost: a loopback registry that does not speak TLS gets plain HTTP.
        this.schemes.set(host, 'http');
        try {
          res = await attempt();
        } catch (err2) {
          this.schemes.delete(host);
          throw err2;
        }
        return res;
      }
      throw err;
    }
    if (!this.schemes.has(host)) this.schemes.set(host, this.scheme(host));
    return res;
  }

  /** Map a non-success response to the right error, naming the artifact. */
  async fail(res: HttpResponse, what: string, ctx: SendContext): Promise<never> {
    const errors = await readErrorBody(res);
    const codes = errors.map((e) => e.code).filter(Boolean) as string[];
    const text = errors.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    const suffix = text ? ` (${text})` : '';
    if (res.status === 403 || codes.includes('DENIED')) {
      const lookup = await this.auth.lookup(ctx.registry, ctx.repo?.repository);
      throw new FerryError('AUTH', `${what}: access denied by ${ctx.registry}${suffix}`, {
        hint: `The account ${lookup.source ? `from ${lookup.source} ` : ''}may not ${ctx.scopes.some((s) => s.endsWith('push')) ? 'push to' : 'read'} this repository; check its permissions.`,
      });
    }
    if (codes.includes('MANIFEST_BLOB_UNKNOWN')) {
      // A manifest pushed while the registry lacks a blob it references (one it said it had, or lost
      // since): name the blob (its digest only when the answer's detail is one), not "not found".
      const blobs = [...new Set(errors.filter((e) => e.code === 'MANIFEST_BLOB_UNKNOWN').flatMap((e) => (typeof e.detail === 'string' && /^sha256:[a-f0-9]{64}$/.test(e.detail) ? [e.detail] : [])))];
      const which = blobs.length ? `the blob${blobs.length > 1 ? 's' : ''} ${blobs.slice(0, 5).join(', ')}${blobs.length > 5 ? ` and ${blobs.length - 5} more` : ''}` : 'a blob';
      throw new FerryError('VERIFY', `${what}: ${ctx.registry} refused it: it does not hold ${which} the manifest references (MANIFEST_BLOB_UNKNOWN), so it did not store the manifest`, {
        hint: `${ctx.registry} said earlier that it had the blob, or lost it since (garbage collection, storage): check its storage, then import again.`,
      });
    }
    if (res.status === 404 || codes.some((c) => c.endsWith('_UNKNOWN'))) {
      throw new FerryError('NOT_FOUND', `${what}: not found on ${ctx.registry}${suffix}`, { hint: 'Check the repository name, tag or digest.' });
    }
    if (res.status === 501 || res.status === 405) {
      // Not a transient failure: the server does not implement this part of the registry API.
      throw new FerryError('NETWORK', `${what}: ${ctx.registry} answered HTTP ${res.status} (${res.status === 501 ? 'not implemented' : 'method not allowed'})${suffix}`, {
        hint: `${ctx.registry} does not answer the registry API here: check that the URL names a container registry (oci://host[:port]/repository:tag).`,
      });
    }
    if (res.status === 429 || res.status >= 500) {
      // A registry whose storage fails (a full disk, a read-only or unwritable directory) answers a
      // push with a bare 500 "unknown error": the network is not what to check.
      const storage =
        res.status === 500 && ctx.scopes.some((s) => s.endsWith('push'))
          ? `${ctx.registry} failed while storing what was sent (HTTP 500): often its own storage — a full disk, a read-only or unwritable storage directory, a quota. Check the registry's log and free space, then run again: blobs already stored are not sent again.`
          : undefined;
      throw new RetryableError(`${what}: HTTP ${res.status}${suffix}`, { retryAfterMs: parseRetryAfter(res.headers['retry-after']), ...(storage ? { hint: storage } : {}) });
    }
    if (codes.some((c) => ['DIGEST_INVALID', 'SIZE_INVALID', 'MANIFEST_INVALID', 'MANIFEST_UNVERIFIED', 'BLOB_UPLOAD_INVALID'].includes(c))) {
      throw new FerryError('VERIFY', `${what}: ${ctx.registry} refused it${suffix}`);
    }
    throw new FerryError('NETWORK', `${what}: unexpected HTTP ${res.status} from ${ctx.registry}${suffix}`);
  }

  /** Check the registry answers the distribution API (with credentials when it asks for them). */
  async ping(registry: string): Promise<void> {
    const ctx: SendContext = { registry, scopes: [] };
    await this.retry(`ping ${registry}`, async () => {
      const res = await this.send(ctx, 'GET', '/v2/');
      if (res.status >= 200 && res.status < 300) {
        await discard(res.body);
        return;
      }
      await this.fail(res, `${registry} /v2/`, ctx);
    });
  }
}
