import type { Readable } from 'node:stream';
import type { HttpClient } from '../net/http.js';
import type { RegistryAuth } from './auth.js';
import { listCatalog, listTags } from './list.js';
import { blobSize, getBlobBytes, getManifest, headManifest, openBlob } from './pull.js';
import { mountBlob, pushBlob, putManifest, type BlobDesc, type OpenAt, type PushResult } from './push.js';
import { RegistryTransport, type RegistryClientOptions, type RepoRef } from './transport.js';

/**
 * The OCI distribution client (pull, push, list), on the one HttpClient. Every call goes through
 * the retry policy; a digest mismatch, an auth failure or a 404 is never retried. Errors name
 * the registry, the repository and the reference or digest. The work lives in transport.ts,
 * pull.ts, push.ts and list.ts; this class holds one transport (its auth and scheme state).
 */
export type { RegistryClientOptions, RepoRef } from './transport.js';
export type { PushResult } from './push.js';
export { appendQuery, rangeEnd, resolveLocation } from './push.js';
export { nextLink } from './list.js';
export { isLoopbackHost } from '../net/loopback.js';

/** Manifests this client has read, by registry, repository and digest: at most this many bytes. */
const MEMO_BYTES = 32 << 20;

export class RegistryClient {
  private readonly t: RegistryTransport;
  /**
   * Manifests read in this process (verified against their digest when read), so that reading
   * one again by digest costs no request: `bundle create` locks (reading each manifest by tag)
   * and then fetches (by digest). Oldest dropped first past MEMO_BYTES. Tags always go to the
   * registry.
   */
  private readonly memo = new Map<string, { bytes: Buffer; mediaType: string; digest: string }>();
  private memoBytes = 0;

  constructor(opts: RegistryClientOptions) {
    this.t = new RegistryTransport(opts);
  }

  get http(): HttpClient {
    return this.t.http;
  }

  get auth(): RegistryAuth {
    return this.t.auth;
  }

  /** Base URL of a registry's API (`https://registry-1.docker.io`). */
  baseUrl(registry: string): string {
    return this.t.baseUrl(registry);
  }

  /** Check the registry answers the distribution API (with credentials when it asks for them). */
  ping(registry: string): Promise<void> {
    return this.t.ping(registry);
  }

  async getManifest(repo: RepoRef, reference: string): Promise<{ bytes: Buffer; mediaType: string; digest: string }> {
    const key = (digest: string) => `${repo.registry}/${repo.repository}@${digest}`;
    const hit = this.memo.get(key(reference));
    if (hit) return { ...hit, bytes: Buffer.from(hit.bytes) };
    const got = await getManifest(this.t, repo, reference);
    if (got.bytes.length <= MEMO_BYTES / 8 && !this.memo.has(key(got.digest))) {
      this.memo.set(key(got.digest), { ...got, bytes: Buffer.from(got.bytes) });
      this.memoBytes += got.bytes.length;
      for (const [k, v] of this.memo) {
        if (this.memoBytes <= MEMO_BYTES) break;
        this.memo.delete(k);
        this.memoBytes -= v.bytes.length;
      }
    }
    return got;
  }

  headManifest(repo: RepoRef, reference: string): Promise<{ digest: string; mediaType: string; size: number } | undefined> {
    return headManifest(this.t, repo, reference);
  }

  putManifest(repo: RepoRef, reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    return putManifest(this.t, repo, reference, bytes, mediaType);
  }

  blobSize(repo: RepoRef, digest: string): Promise<number | undefined> {
    return blobSize(this.t, repo, digest);
  }

  /** Open a blob from `offset` (Range); see pull.ts. */
  openBlob(repo: RepoRef, digest: string, offset = 0): Promise<Readable> {
    return openBlob(this.t, repo, digest, offset);
  }

  /** A whole small blob (a config), verified against its digest. */
  getBlobBytes(repo: RepoRef, digest: string, maxBytes?: number): Promise<Buffer> {
    return getBlobBytes(this.t, repo, digest, maxBytes);
  }

  /** Cross-repository mount on the same registry; false when the registry started an upload instead. */
  mountBlob(repo: RepoRef, digest: string, from: string): Promise<boolean> {
    return mountBlob(this.t, repo, digest, from);
  }

  /** Push a blob: HEAD, then mounts, then a monolithic or chunked upload; see push.ts. */
  pushBlob(repo: RepoRef, desc: BlobDesc, open: OpenAt, opts: { mountFrom?: string[]; chunkSize?: number } = {}): Promise<PushResult> {
    return pushBlob(this.t, repo, desc, open, opts);
  }

  /** Every tag, following `Link: <…>; rel="next"` pages. */
  listTags(repo: RepoRef, opts: { pageSize?: number } = {}): Promise<string[]> {
    return listTags(this.t, repo, opts);
  }

  /** Every repository in the registry's catalog (where the registry allows listing it). */
  listCatalog(registry: string, opts: { pageSize?: number } = {}): Promise<string[]> {
    return listCatalog(this.t, registry, opts);
  }
}
