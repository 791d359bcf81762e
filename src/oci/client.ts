import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { bodyFromOffset, discard, headerValue, isTlsHandshakeFailure, type HttpClient, type HttpResponse } from '../net/http.js';
import { RetryableError, parseRetryAfter, withRetry, type RetryPolicy } from '../net/retry.js';
import { RegistryAuth, noCredentials, repositoryScope, wrongCredentials } from './auth.js';
import type { CredentialStore } from './credentials.js';
import { MANIFEST_ACCEPT, sniffMediaType } from './media-types.js';
import { registryApiHost } from './reference.js';

/**
 * The OCI distribution client (pull and push), on the one HttpClient. Every call goes through
 * the retry policy; a digest mismatch, an auth failure or a 404 is never retried. Errors name
 * the registry, the repository and the reference or digest.
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

export type PushResult = 'exists' | 'mounted' | 'uploaded';

const DEFAULT_CHUNK = 64 * 1024 * 1024;
const OCTET = 'application/octet-stream';

/** Loopback hosts, with or without a port. */
export function isLoopbackHost(host: string): boolean {
  const h = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return h === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '[::1]' || h.endsWith('.localhost');
}

/** Resolve an upload `Location` (relative or absolute) against the URL that returned it. */
export function resolveLocation(base: string, location: string): string {
  return new URL(location, base).toString();
}

/** Append a query parameter with the right separator, leaving existing parameters byte for byte. */
export function appendQuery(url: string, key: string, value: string): string {
  const hash = url.indexOf('#');
  const base = hash >= 0 ? url.slice(0, hash) : url;
  const sep = base.includes('?') ? (base.endsWith('?') || base.endsWith('&') ? '' : '&') : '?';
  return `${base}${sep}${encodeURIComponent(key)}=${encodeURIComponent(value)}`;
}

/**
 * The next byte an upload session expects, from its `Range: 0-<last>` header. Distribution
 * reports an empty session as `0-0` too; a one-byte session is far less likely than an empty
 * one, and guessing wrong only costs a 416 and a fresh session.
 */
export function rangeEnd(range: string | undefined): number {
  const m = range ? /^(?:bytes=)?0-(\d+)$/.exec(range.trim()) : null;
  if (!m) return 0;
  const last = Number(m[1]);
  return last === 0 ? 0 : last + 1;
}

/** The `next` URL of a Link header (RFC 5988), resolved against the request URL. */
export function nextLink(link: string | string[] | undefined, base: string): string | undefined {
  const values = Array.isArray(link) ? link : link ? [link] : [];
  for (const v of values) {
    for (const part of v.split(/,(?=\s*<)/)) {
      const m = /<([^>]*)>\s*(.*)$/.exec(part.trim());
      if (m && /rel="?next"?/i.test(m[2])) return new URL(m[1], base).toString();
    }
  }
  return undefined;
}

interface DistributionError {
  code?: string;
  message?: string;
  detail?: unknown;
}

async function readErrorBody(res: HttpResponse): Promise<DistributionError[]> {
  try {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of res.body) {
      n += (c as Buffer).length;
      if (n <= 65536) chunks.push(c as Buffer);
    }
    const j = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { errors?: DistributionError[] };
    return Array.isArray(j.errors) ? j.errors : [];
  } catch {
    return [];
  }
}

function sha256(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

function isDigest(ref: string): boolean {
  return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(ref) && ref.includes(':');
}

/** Take exactly `n` bytes from a stream (a chunk of a chunked upload). */
function takeBytes(src: Readable, n: number): Readable {
  async function* gen() {
    let left = n;
    if (left > 0) {
      for await (const c of src) {
        const b = (c as Buffer).length > left ? (c as Buffer).subarray(0, left) : (c as Buffer);
        left -= b.length;
        yield b;
        if (left <= 0) break;
      }
    }
    src.destroy();
    if (left > 0) throw new FerryError('INTERNAL', `blob source ended ${left} bytes early`);
  }
  return Readable.from(gen(), { objectMode: false });
}

interface SendContext {
  repo?: RepoRef;
  registry: string;
  scopes: string[];
}

export class RegistryClient {
  readonly http: HttpClient;
  readonly auth: RegistryAuth;
  private readonly opts: RegistryClientOptions;
  private readonly schemes = new Map<string, 'http' | 'https'>();

  constructor(opts: RegistryClientOptions) {
    this.opts = opts;
    this.http = opts.http;
    this.auth = new RegistryAuth({ http: opts.http, credentials: opts.credentials });
  }

  private retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
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

  /** One request with auth (token up front when known, answer a 401 once) and the loopback http fallback. */
  private async send(ctx: SendContext, method: string, target: string, opts: { headers?: Record<string, string>; body?: Buffer | string | Readable; maxRedirects?: number } = {}): Promise<HttpResponse> {
    const host = registryApiHost(ctx.registry);
    const attempt = async (): Promise<HttpResponse> => {
      const origin = `${this.scheme(host)}://${host}`;
      const url = /^https?:\/\//.test(target) ? target : origin + target;
      const sameOrigin = new URL(url).host === host;
      const repository = ctx.repo?.repository;
      const headers = { ...(opts.headers ?? {}) };
      if (sameOrigin) {
        const h = await this.auth.headerFor(host, ctx.scopes, repository);
        if (h) headers.authorization = h;
      }
      const res = await this.http.request(url, { method, headers, body: opts.body, maxRedirects: opts.maxRedirects });
      if (res.status !== 401 || !sameOrigin) return res;
      const challenge = headerValue(res.headers, 'www-authenticate');
      await discard(res.body);
      const hadHeader = !!headers.authorization;
      const outcome = await this.auth.respond(host, ctx.registry, challenge, ctx.scopes, repository);
      if (hadHeader && outcome.header === headers.authorization) {
        const lookup = outcome.lookup ?? (await this.auth.lookup(ctx.registry, repository));
        this.auth.invalidate(host, ctx.scopes);
        throw lookup.credential ? wrongCredentials(ctx.registry, repository, lookup) : noCredentials(ctx.registry, repository, lookup);
      }
      if (opts.body instanceof Readable) {
        // The body went with the refused request; the caller's retry reopens it with the new token.
        opts.body.destroy();
        throw new RetryableError(`${method} ${url}: token expired during the upload`);
      }
      const retried = await this.http.request(url, { method, headers: { ...headers, authorization: outcome.header }, body: opts.body, maxRedirects: opts.maxRedirects });
      if (retried.status === 401) {
        await discard(retried.body);
        const lookup = outcome.lookup ?? (await this.auth.lookup(ctx.registry, repository));
        this.auth.invalidate(host, ctx.scopes);
        throw lookup.credential ? wrongCredentials(ctx.registry, repository, lookup) : noCredentials(ctx.registry, repository, lookup);
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
  private async fail(res: HttpResponse, what: string, ctx: SendContext): Promise<never> {
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
    if (res.status === 404 || codes.some((c) => c.endsWith('_UNKNOWN'))) {
      throw new FerryError('NOT_FOUND', `${what}: not found on ${ctx.registry}${suffix}`, { hint: 'Check the repository name, tag or digest.' });
    }
    if (res.status === 429 || res.status >= 500) {
      throw new RetryableError(`${what}: HTTP ${res.status}${suffix}`, { retryAfterMs: parseRetryAfter(res.headers['retry-after']) });
    }
    if (codes.some((c) => ['DIGEST_INVALID', 'SIZE_INVALID', 'MANIFEST_INVALID', 'MANIFEST_UNVERIFIED', 'BLOB_UPLOAD_INVALID'].includes(c))) {
      throw new FerryError('VERIFY', `${what}: ${ctx.registry} refused it${suffix}`);
    }
    throw new FerryError('NETWORK', `${what}: unexpected HTTP ${res.status} from ${ctx.registry}${suffix}`);
  }

  private pullCtx(repo: RepoRef): SendContext {
    return { repo, registry: repo.registry, scopes: [repositoryScope(repo.repository, 'pull')] };
  }

  private pushCtx(repo: RepoRef, mountFrom?: string): SendContext {
    const scopes = [repositoryScope(repo.repository, 'pull,push')];
    if (mountFrom) scopes.push(repositoryScope(mountFrom, 'pull'));
    return { repo, registry: repo.registry, scopes };
  }

  private label(repo: RepoRef, reference?: string): string {
    const base = `${repo.registry}/${repo.repository}`;
    if (!reference) return base;
    return isDigest(reference) ? `${base}@${reference}` : `${base}:${reference}`;
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

  async getManifest(repo: RepoRef, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const ctx = this.pullCtx(repo);
    const what = this.label(repo, reference);
    const max = this.opts.maxManifestBytes ?? 16 * 1024 * 1024;
    return this.retry(`${what} manifest`, async () => {
      const res = await this.send(ctx, 'GET', `/v2/${repo.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
      if (res.status !== 200) {
        if (res.status === 404) {
          await discard(res.body);
          throw new FerryError('NOT_FOUND', `${what}: manifest not found on ${repo.registry}`, {
            hint: `Check that ${repo.repository} exists on ${repo.registry} and has ${isDigest(reference) ? 'that digest' : `the tag ${reference}`}.`,
          });
        }
        await this.fail(res, `${what} manifest`, ctx);
      }
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of res.body) {
        n += (c as Buffer).length;
        if (n > max) {
          res.body.destroy();
          throw new FerryError('VERIFY', `${what}: manifest larger than ${max} bytes`);
        }
        chunks.push(c as Buffer);
      }
      const bytes = Buffer.concat(chunks);
      const digest = sha256(bytes);
      if (isDigest(reference) && reference.startsWith('sha256:') && reference !== digest) {
        throw new FerryError('VERIFY', `${what}: manifest digest mismatch (received bytes hash to ${digest})`, {
          hint: 'The registry (or something between) served different bytes than the digest names; nothing was kept.',
        });
      }
      const headerDigest = headerValue(res.headers, 'docker-content-digest');
      if (headerDigest?.startsWith('sha256:') && headerDigest !== digest) {
        throw new FerryError('VERIFY', `${what}: manifest digest mismatch (registry says ${headerDigest}, received bytes hash to ${digest})`, {
          hint: 'Something between ferry and the registry altered the response; nothing was kept.',
        });
      }
      return { bytes, mediaType: sniffMediaType(bytes, headerValue(res.headers, 'content-type')), digest };
    });
  }

  async headManifest(repo: RepoRef, reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    const ctx = this.pullCtx(repo);
    const what = this.label(repo, reference);
    const res = await this.retry(`${what} manifest`, async () => {
      const r = await this.send(ctx, 'HEAD', `/v2/${repo.repository}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT } });
      await discard(r.body);
      if (r.status === 404) return undefined;
      if (r.status !== 200) await this.fail(r, `${what} manifest`, ctx);
      return r;
    });
    if (!res) return undefined;
    const digest = headerValue(res.headers, 'docker-content-digest');
    const size = Number(headerValue(res.headers, 'content-length') ?? NaN);
    const ct = headerValue(res.headers, 'content-type')?.split(';')[0].trim();
    if (digest && Number.isFinite(size) && ct) return { digest, mediaType: ct, size };
    const full = await this.getManifest(repo, reference);
    return { digest: full.digest, mediaType: full.mediaType, size: full.bytes.length };
  }

  async putManifest(repo: RepoRef, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const ctx = this.pushCtx(repo);
    const what = this.label(repo, reference);
    const digest = sha256(bytes);
    return this.retry(`push ${what} manifest`, async () => {
      const res = await this.send(ctx, 'PUT', `/v2/${repo.repository}/manifests/${reference}`, {
        headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
        body: bytes,
      });
      if (res.status !== 201 && res.status !== 200 && res.status !== 202) await this.fail(res, `push ${what} manifest`, ctx);
      await discard(res.body);
      const said = headerValue(res.headers, 'docker-content-digest');
      if (said?.startsWith('sha256:') && said !== digest) {
        throw new FerryError('VERIFY', `push ${what}: registry stored the manifest as ${said}, expected ${digest}`);
      }
      return digest;
    });
  }

  async blobSize(repo: RepoRef, digest: string): Promise<number | undefined> {
    const ctx = this.pullCtx(repo);
    const what = `${this.label(repo)} blob ${digest}`;
    return this.retry(what, async () => {
      const res = await this.send(ctx, 'HEAD', `/v2/${repo.repository}/blobs/${digest}`);
      await discard(res.body);
      if (res.status === 404) return undefined;
      if (res.status !== 200) await this.fail(res, what, ctx);
      const len = headerValue(res.headers, 'content-length');
      return len === undefined ? undefined : Number(len);
    });
  }

  /**
   * Open a blob from `offset` (Range). Redirects to a CDN are followed without Authorization.
   * Only the opening is retried here; use it as BlobStore.ingest's openAt so a dropped body
   * resumes from where the store got to.
   */
  async openBlob(repo: RepoRef, digest: string, offset = 0): Promise<Readable> {
    const ctx = this.pullCtx(repo);
    const what = `${this.label(repo)} blob ${digest}`;
    return this.retry(what, async () => {
      const headers: Record<string, string> = {};
      if (offset > 0) headers.range = `bytes=${offset}-`;
      const res = await this.send(ctx, 'GET', `/v2/${repo.repository}/blobs/${digest}`, { headers });
      if (res.status === 404) {
        await discard(res.body);
        throw new FerryError('NOT_FOUND', `${what}: blob not found on ${repo.registry}`, { hint: 'The registry lost a blob its manifest names; tell its operator.' });
      }
      if (res.status !== 200 && res.status !== 206 && res.status !== 416) await this.fail(res, what, ctx);
      return bodyFromOffset(res, offset, what);
    });
  }

  /** A whole small blob (a config), verified against its digest. */
  async getBlobBytes(repo: RepoRef, digest: string, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
    const what = `${this.label(repo)} blob ${digest}`;
    return this.retry(what, async () => {
      const body = await this.openBlob(repo, digest);
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of body) {
        n += (c as Buffer).length;
        if (n > maxBytes) {
          body.destroy();
          throw new FerryError('VERIFY', `${what}: larger than ${maxBytes} bytes`);
        }
        chunks.push(c as Buffer);
      }
      const bytes = Buffer.concat(chunks);
      const got = sha256(bytes);
      if (digest.startsWith('sha256:') && got !== digest) {
        throw new FerryError('VERIFY', `${what}: digest mismatch (received content hashes to ${got})`);
      }
      return bytes;
    });
  }

  /** Cross-repository mount on the same registry; false when the registry started an upload instead. */
  async mountBlob(repo: RepoRef, digest: string, from: string): Promise<boolean> {
    if (from === repo.repository) return false;
    const ctx = this.pushCtx(repo, from);
    const what = `${this.label(repo)} blob ${digest} (mount from ${from})`;
    return this.retry(what, async () => {
      const target = `/v2/${repo.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
      const res = await this.send(ctx, 'POST', target, { headers: { 'content-length': '0' } });
      if (res.status === 201) {
        await discard(res.body);
        return true;
      }
      if (res.status === 202) {
        await discard(res.body);
        const loc = headerValue(res.headers, 'location');
        if (loc) {
          // An upload session we do not want: cancel it so it does not linger.
          const cancel = await this.send(ctx, 'DELETE', resolveLocation(this.baseUrl(repo.registry) + target, loc)).catch(() => undefined);
          if (cancel) await discard(cancel.body);
        }
        return false;
      }
      if (res.status === 404 || res.status === 403) {
        await discard(res.body);
        return false;
      }
      return this.fail(res, what, ctx);
    });
  }

  /**
   * Push a blob: HEAD first, then mounts, then a monolithic POST+PUT (small blobs) or chunked
   * PATCHes (large ones) that resume from the registry's reported Range after a failure.
   */
  async pushBlob(repo: RepoRef, desc: { digest: string; size: number }, open: (start: number) => Promise<Readable>, opts: { mountFrom?: string[]; chunkSize?: number } = {}): Promise<PushResult> {
    const existing = await this.blobSize(repo, desc.digest);
    if (existing === desc.size) return 'exists';
    for (const from of opts.mountFrom ?? []) {
      if (await this.mountBlob(repo, desc.digest, from)) return 'mounted';
    }
    const chunk = opts.chunkSize ?? this.opts.chunkSize ?? DEFAULT_CHUNK;
    if (desc.size <= chunk) await this.pushMonolithic(repo, desc, open);
    else await this.pushChunked(repo, desc, open, chunk);
    return 'uploaded';
  }

  private async startUpload(repo: RepoRef, ctx: SendContext, what: string): Promise<string> {
    const start = `/v2/${repo.repository}/blobs/uploads/`;
    const res = await this.send(ctx, 'POST', start, { headers: { 'content-length': '0' } });
    if (res.status !== 202) await this.fail(res, `${what}: start upload`, ctx);
    await discard(res.body);
    const loc = headerValue(res.headers, 'location');
    if (!loc) throw new FerryError('NETWORK', `${what}: ${repo.registry} started an upload without a Location`);
    return resolveLocation(this.baseUrl(repo.registry) + start, loc);
  }

  private async pushMonolithic(repo: RepoRef, desc: { digest: string; size: number }, open: (start: number) => Promise<Readable>): Promise<void> {
    const ctx = this.pushCtx(repo);
    const what = `push ${this.label(repo)} blob ${desc.digest}`;
    await this.retry(what, async () => {
      const location = await this.startUpload(repo, ctx, what);
      const body = await open(0);
      const res = await this.send(ctx, 'PUT', appendQuery(location, 'digest', desc.digest), {
        headers: { 'content-type': OCTET, 'content-length': String(desc.size) },
        body,
        maxRedirects: 0,
      });
      if (res.status !== 201 && res.status !== 204) await this.fail(res, what, ctx);
      await discard(res.body);
    });
  }

  /** Where an upload session stands: the next byte the registry expects, or undefined when the session is gone. */
  private async uploadOffset(ctx: SendContext, location: string): Promise<{ offset: number; location: string } | undefined> {
    const res = await this.send(ctx, 'GET', location, { maxRedirects: 0 });
    await discard(res.body);
    if (res.status !== 204 && res.status !== 200) return undefined;
    const range = headerValue(res.headers, 'range');
    const loc = headerValue(res.headers, 'location');
    return { offset: rangeEnd(range), location: loc ? resolveLocation(location, loc) : location };
  }

  private async pushChunked(repo: RepoRef, desc: { digest: string; size: number }, open: (start: number) => Promise<Readable>, chunk: number): Promise<void> {
    const ctx = this.pushCtx(repo);
    const what = `push ${this.label(repo)} blob ${desc.digest}`;
    let location: string | undefined;
    let offset = 0;
    await this.retry(what, async () => {
      if (location) {
        // A retry: ask the registry how far the session got and continue from there.
        const state = await this.uploadOffset(ctx, location).catch(() => undefined);
        if (state) ({ offset, location } = state);
        else location = undefined;
      }
      if (!location) {
        location = await this.startUpload(repo, ctx, what);
        offset = 0;
      }
      while (offset < desc.size) {
        const len = Math.min(chunk, desc.size - offset);
        const end = offset + len - 1;
        const body = takeBytes(await open(offset), len);
        const res = await this.send(ctx, 'PATCH', location, {
          headers: { 'content-type': OCTET, 'content-length': String(len), 'content-range': `${offset}-${end}` },
          body,
          maxRedirects: 0,
        });
        if (res.status === 416) {
          await discard(res.body);
          location = undefined;
          throw new RetryableError(`${what}: registry rejected range ${offset}-${end}`);
        }
        if (res.status !== 202 && res.status !== 204) await this.fail(res, what, ctx);
        await discard(res.body);
        const loc = headerValue(res.headers, 'location');
        if (loc) location = resolveLocation(location, loc);
        const range = headerValue(res.headers, 'range');
        offset = range ? rangeEnd(range) : end + 1;
      }
      const res = await this.send(ctx, 'PUT', appendQuery(location, 'digest', desc.digest), { headers: { 'content-length': '0' }, body: Buffer.alloc(0), maxRedirects: 0 });
      if (res.status !== 201 && res.status !== 204) {
        if (res.status === 404) location = undefined;
        await this.fail(res, what, ctx);
      }
      await discard(res.body);
    });
  }

  /** Every tag, following `Link: <…>; rel="next"` pages. */
  async listTags(repo: RepoRef, opts: { pageSize?: number } = {}): Promise<string[]> {
    return this.listPaged(this.pullCtx(repo), `${this.label(repo)} tags`, repo.registry, `/v2/${repo.repository}/tags/list`, 'tags', opts.pageSize);
  }

  /** Every repository in the registry's catalog (where the registry allows listing it). */
  async listCatalog(registry: string, opts: { pageSize?: number } = {}): Promise<string[]> {
    const ctx: SendContext = { registry, scopes: ['registry:catalog:*'] };
    return this.listPaged(ctx, `${registry} catalog`, registry, '/v2/_catalog', 'repositories', opts.pageSize);
  }

  /** A paginated list endpoint: follows `Link: <…>; rel="next"`, each page retried on its own. */
  private async listPaged(ctx: SendContext, what: string, registry: string, first: string, field: 'tags' | 'repositories', pageSize?: number): Promise<string[]> {
    const items: string[] = [];
    let next: string | undefined = `${first}${pageSize ? `?n=${pageSize}` : ''}`;
    for (let page = 0; next && page < 10_000; page++) {
      const target: string = next;
      const { list, link } = await this.retry(what, async () => {
        const res = await this.send(ctx, 'GET', target);
        if (res.status !== 200) await this.fail(res, what, ctx);
        const chunks: Buffer[] = [];
        for await (const c of res.body) chunks.push(c as Buffer);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, string[] | null | undefined>;
        const url = /^https?:/.test(target) ? target : this.baseUrl(registry) + target;
        return { list: body[field] ?? [], link: nextLink(res.headers.link, url) };
      });
      items.push(...list);
      next = link;
    }
    return items;
  }
}
