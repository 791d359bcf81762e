import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { discard, headerValue } from '../net/http.js';
import { RetryableError } from '../net/retry.js';
import { blobSize } from './pull.js';
import { pushContext, repoLabel, sha256, type RegistryTransport, type RepoRef, type SendContext } from './transport.js';

/**
 * Writes to a registry: manifests, cross-repository mounts, and blob uploads (monolithic for
 * small blobs, chunked and resumable from the registry's reported Range for large ones).
 */
export type PushResult = 'exists' | 'mounted' | 'uploaded';

export interface BlobDesc {
  digest: string;
  size: number;
}

export type OpenAt = (start: number) => Promise<Readable>;

const DEFAULT_CHUNK = 64 * 1024 * 1024;
const OCTET = 'application/octet-stream';

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

/**
 * One blob stream read chunk after chunk (a chunked upload's PATCHes): `take(n)` hands on the
 * next `n` bytes and leaves the stream open for the next chunk, so the blob is read once from
 * start to end (and a source that hashes what passes sees the whole blob in order).
 */
class ChunkReader {
  private readonly it: AsyncIterator<Buffer>;
  private rest: Buffer | undefined;

  constructor(
    private readonly src: Readable,
    /** The blob offset the next take starts at. */
    public at: number,
  ) {
    this.it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  take(n: number): Readable {
    const self = this;
    async function* gen() {
      let left = n;
      while (left > 0) {
        let c = self.rest;
        self.rest = undefined;
        if (!c) {
          const next = await self.it.next();
          if (next.done) throw new FerryError('INTERNAL', `blob source ended ${left} bytes early`);
          c = next.value;
        }
        if (c.length > left) {
          self.rest = c.subarray(left);
          c = c.subarray(0, left);
        }
        left -= c.length;
        self.at += c.length;
        yield c;
      }
    }
    return Readable.from(gen(), { objectMode: false });
  }

  destroy(): void {
    this.src.destroy();
  }
}

export async function putManifest(t: RegistryTransport, repo: RepoRef, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
  const ctx = pushContext(repo);
  const what = repoLabel(repo, reference);
  const digest = sha256(bytes);
  return t.retry(`push ${what} manifest`, async () => {
    const res = await t.send(ctx, 'PUT', `/v2/${repo.repository}/manifests/${reference}`, {
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
    });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) await t.fail(res, `push ${what} manifest`, ctx);
    await discard(res.body);
    const said = headerValue(res.headers, 'docker-content-digest');
    if (said?.startsWith('sha256:') && said !== digest) {
      throw new FerryError('VERIFY', `push ${what}: registry stored the manifest as ${said}, expected ${digest}`, {
        hint: `The registry (or a proxy in front of it) answered another digest than that of the bytes ferry sent, so the image is not counted as imported: check what ${repo.registry} holds under ${reference} (\`skopeo inspect --raw\`), and what stands between ferry and it.`,
      });
    }
    return digest;
  });
}

/** Cross-repository mount on the same registry; false when the registry started an upload instead. */
export async function mountBlob(t: RegistryTransport, repo: RepoRef, digest: string, from: string): Promise<boolean> {
  if (from === repo.repository) return false;
  const ctx = pushContext(repo, from);
  const what = `${repoLabel(repo)} blob ${digest} (mount from ${from})`;
  return t.retry(what, async () => {
    const target = `/v2/${repo.repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    const res = await t.send(ctx, 'POST', target, { headers: { 'content-length': '0' } });
    if (res.status === 201) {
      await discard(res.body);
      return true;
    }
    if (res.status === 202) {
      await discard(res.body);
      const loc = headerValue(res.headers, 'location');
      if (loc) {
        // An upload session we do not want: cancel it so it does not linger.
        const cancel = await t.send(ctx, 'DELETE', resolveLocation(t.baseUrl(repo.registry) + target, loc)).catch(() => undefined);
        if (cancel) await discard(cancel.body);
      }
      return false;
    }
    if (res.status === 404 || res.status === 403) {
      await discard(res.body);
      return false;
    }
    return t.fail(res, what, ctx);
  });
}

/**
 * Push a blob: HEAD first, then mounts, then a monolithic POST+PUT (small blobs) or chunked
 * PATCHes (large ones) that resume from the registry's reported Range after a failure.
 */
export async function pushBlob(t: RegistryTransport, repo: RepoRef, desc: BlobDesc, open: OpenAt, opts: { mountFrom?: string[]; chunkSize?: number } = {}): Promise<PushResult> {
  // A 500 on the HEAD from the registry itself is "not known here": a registry whose disk filled mid-push can be left with
  // an empty link file for the blob in this repository (Distribution then answers 500 "invalid
  // checksum digest format" for it until the link is written again), and the mount or upload
  // that follows writes it again. Retrying the HEAD could never get past it.
  const existing = await blobSize(t, repo, desc.digest, { unknownOn500: true }).catch((err: unknown) => {
    // The HEAD asks with pull rights, but it is a push that was refused: say so.
    if (err instanceof FerryError && err.code === 'AUTH' && !err.hint?.startsWith('Log in')) {
      throw new FerryError('AUTH', err.message, { hint: `The account may not push to ${repoLabel(repo)}; check its permissions, or log in as one that may (\`docker login ${repo.registry}\`).`, details: err.details, cause: err });
    }
    throw err;
  });
  if (existing === desc.size) return 'exists';
  for (const from of opts.mountFrom ?? []) {
    if (await mountBlob(t, repo, desc.digest, from)) return 'mounted';
  }
  const chunk = opts.chunkSize ?? t.opts.chunkSize ?? DEFAULT_CHUNK;
  if (desc.size <= chunk) await pushMonolithic(t, repo, desc, open);
  else await pushChunked(t, repo, desc, open, chunk);
  return 'uploaded';
}

async function startUpload(t: RegistryTransport, repo: RepoRef, ctx: SendContext, what: string): Promise<string> {
  const start = `/v2/${repo.repository}/blobs/uploads/`;
  const res = await t.send(ctx, 'POST', start, { headers: { 'content-length': '0' } });
  if (res.status === 404 && !headerValue(res.headers, 'docker-distribution-api-version')) {
    await discard(res.body);
    throw new FerryError('NOT_FOUND', `${what}: ${repo.registry} answered HTTP 404 to POST ${start} (no upload URL for ${repo.repository})`, {
      hint: `Check that the URL names a container registry that accepts pushes to ${repo.repository} (a web server, a pull-through cache or a read-only mirror answers so).`,
    });
  }
  if (res.status !== 202) await t.fail(res, `${what}: start upload`, ctx);
  await discard(res.body);
  const loc = headerValue(res.headers, 'location');
  if (!loc) throw new FerryError('NETWORK', `${what}: ${repo.registry} started an upload without a Location`);
  return resolveLocation(t.baseUrl(repo.registry) + start, loc);
}

async function pushMonolithic(t: RegistryTransport, repo: RepoRef, desc: BlobDesc, open: OpenAt): Promise<void> {
  const ctx = pushContext(repo);
  const what = `push ${repoLabel(repo)} blob ${desc.digest}`;
  await t.retry(what, async () => {
    const location = await startUpload(t, repo, ctx, what);
    const body = await open(0);
    const res = await t.send(ctx, 'PUT', appendQuery(location, 'digest', desc.digest), {
      headers: { 'content-type': OCTET, 'content-length': String(desc.size) },
      body,
      maxRedirects: 0,
    });
    if (res.status === 404) throw await sessionGone(res, what);
    if (res.status !== 201 && res.status !== 204) await t.fail(res, what, ctx);
    await discard(res.body);
  });
}

/**
 * A 404 on an upload session's own URL (PATCH, PUT): the registry no longer knows the session
 * (expired, or lost with a registry restart). Retried, under the one policy, from a new session.
 */
async function sessionGone(res: { body: Readable }, what: string): Promise<RetryableError> {
  await discard(res.body);
  return new RetryableError(`${what}: the registry no longer knows the upload session (HTTP 404); starting a new one`);
}

/** Where an upload session stands: the next byte the registry expects, or undefined when the session is gone. */
async function uploadOffset(t: RegistryTransport, ctx: SendContext, location: string): Promise<{ offset: number; location: string } | undefined> {
  const res = await t.send(ctx, 'GET', location, { maxRedirects: 0 });
  await discard(res.body);
  if (res.status !== 204 && res.status !== 200) return undefined;
  const range = headerValue(res.headers, 'range');
  const loc = headerValue(res.headers, 'location');
  return { offset: rangeEnd(range), location: loc ? resolveLocation(location, loc) : location };
}

async function pushChunked(t: RegistryTransport, repo: RepoRef, desc: BlobDesc, open: OpenAt, chunk: number): Promise<void> {
  const ctx = pushContext(repo);
  const what = `push ${repoLabel(repo)} blob ${desc.digest}`;
  let location: string | undefined;
  let offset = 0;
  // One source stream for the whole upload, reopened only where a retry resumes elsewhere.
  let reader: ChunkReader | undefined;
  const drop = () => {
    reader?.destroy();
    reader = undefined;
  };
  try {
    await t.retry(what, async () => {
      try {
        if (location) {
          // A retry: ask the registry how far the session got and continue from there.
          const state = await uploadOffset(t, ctx, location).catch(() => undefined);
          if (state) ({ offset, location } = state);
          else location = undefined;
        }
        if (!location) {
          location = await startUpload(t, repo, ctx, what);
          offset = 0;
        }
        while (offset < desc.size) {
          const len = Math.min(chunk, desc.size - offset);
          const end = offset + len - 1;
          if (reader?.at !== offset) {
            drop();
            reader = new ChunkReader(await open(offset), offset);
          }
          const body = reader.take(len);
          const res = await t.send(ctx, 'PATCH', location, {
            headers: { 'content-type': OCTET, 'content-length': String(len), 'content-range': `${offset}-${end}` },
            body,
            maxRedirects: 0,
          });
          if (res.status === 416) {
            await discard(res.body);
            location = undefined;
            throw new RetryableError(`${what}: registry rejected range ${offset}-${end}`);
          }
          if (res.status === 404) {
            location = undefined;
            throw await sessionGone(res, what);
          }
          if (res.status !== 202 && res.status !== 204) await t.fail(res, what, ctx);
          await discard(res.body);
          const loc = headerValue(res.headers, 'location');
          if (loc) location = resolveLocation(location, loc);
          const range = headerValue(res.headers, 'range');
          offset = range ? rangeEnd(range) : end + 1;
        }
        const res = await t.send(ctx, 'PUT', appendQuery(location, 'digest', desc.digest), { headers: { 'content-length': '0' }, body: Buffer.alloc(0), maxRedirects: 0 });
        if (res.status === 404) {
          location = undefined;
          throw await sessionGone(res, what);
        }
        if (res.status !== 201 && res.status !== 204) await t.fail(res, what, ctx);
        await discard(res.body);
      } catch (err) {
        // Where the stream stands after a failed chunk is unknown: the next attempt reopens it.
        drop();
        throw err;
      }
    });
  } finally {
    drop();
  }
}
