import { createReadStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { singleFlight } from '../net/concurrency.js';
import { RetryableError, withRetry, type RetryPolicy } from '../net/retry.js';
import { digestOf, LayoutDir, sha256Hex, type BlobDescriptor } from './layout.js';
import { appendToPartial, readPartial, resetPartial } from './resumable.js';
import { withPidLock } from './pid-lock.js';
import { noteItemDone } from './young-gc.js';
import type { StoreCacheLayer } from './registry-cache.js';
import type { DeferredBlobs } from './direct-pack.js';
import { mismatches, renameVerified } from './verified-write.js';
import { writeFileAtomic } from './temp-files.js';

export { digestOf, sha256Hex, type BlobDescriptor };

const SHA256 = ['sha256'];

/**
 * Blobs up to this size are fetched whole into memory (BlobStore.downloadSmall), one per transfer
 * in flight (8 MiB at the default concurrency). 1 MiB: under direct packing, every .deb that is not
 * streamed straight into the bundle; on the 74-package benchmark, 22 of them were between 256 KiB
 * and 1 MiB and took the lock-file and `.partial` path (~10 ms of the main thread). Any blob of
 * that size takes it, not only those marked `small`: an image's config, too, was a lock file, a
 * `.partial`, a rename and their stats each, before the pack could begin (nothing to resume in a
 * few KB).
 */
export const SMALL_BLOB_BYTES = 1 << 20;

const MISMATCH_HINT = 'The source served different bytes than its manifest names. Nothing was kept; if it persists, report it to the registry operator.';

export type OpenAt = (offset: number) => Promise<Readable>;

export interface IngestOptions {
  /** Names the artifact in errors: `docker.io/library/alpine:3.20 layer`. */
  label: string;
  retry?: RetryPolicy;
  onProgress?: (bytes: number) => void;
  onRetry?: (message: string) => void;
  /**
   * The caller never reads this blob back before packing (an image layer, a file, a .deb): when
   * the store has a `deferral` (direct packing) and lacks the blob, only record it there.
   */
  deferrable?: boolean;
  /**
   * One of many small blobs (the .debs of a whole APT component): deferred for direct packing
   * below DeferredBlobs.minBytes too (up to SMALL_DEFER_MAX). (Any blob of at most SMALL_BLOB_BYTES
   * that is fetched into the cache is received in memory and written once: BlobStore.downloadSmall.)
   */
  small?: boolean;
}

/**
 * The download cache: an OCI image layout directory (LayoutDir, so any OCI tool reads it) with
 * a cache's policy on top — downloads resume from `<hex>.partial` after a dropped connection or
 * an interrupted run, one download per blob at a time (within this process, and across ferry
 * processes sharing the cache through a lock file), and a record of what this run hashed.
 */
export class BlobStore extends LayoutDir {
  /** Images share layers: concurrent fetches of one blob wait for the one download. */
  private readonly ingestOnce = singleFlight<string, void>();
  /** Blobs whose bytes this process hashed on the way in: packing them again need not re-hash. */
  readonly verifiedThisRun = new Set<string>();
  /** A shared cache between this store and upstream (registry-cache.ts), when one is given. */
  cacheLayer?: StoreCacheLayer;
  /** Direct packing (direct-pack.ts): deferrable blobs the store lacks are recorded, not fetched. */
  deferral?: DeferredBlobs;

  async has(desc: BlobDescriptor): Promise<boolean> {
    return this.hasBlob(desc.digest, desc.size);
  }

  async readBytes(digest: string): Promise<Buffer> {
    return readFile(this.blobPath(digest));
  }

  open(digest: string, start = 0): Readable {
    return createReadStream(this.blobPath(digest), { start });
  }

  /** Store small bytes (manifests, configs) that were already verified or are ours. */
  async putBytes(bytes: Uint8Array, expected?: string): Promise<BlobDescriptor> {
    const digest = digestOf(bytes);
    if (expected && expected !== digest) {
      throw new FerryError('VERIFY', `${expected}: digest mismatch (content hashes to ${digest})`);
    }
    // The same manifest can arrive twice at once (an image named by tag and by digest): the temp names are unique.
    await writeFileAtomic(this.blobPath(digest), bytes).catch((err: unknown) => {
      throw this.cacheFull(err, digest);
    });
    noteItemDone();
    this.verifiedThisRun.add(digest);
    return { digest, size: bytes.length };
  }

  /**
   * Stream a blob in, resuming a partial download (from this run or an interrupted earlier one)
   * with `openAt(offset)`. Transient failures are retried under the one policy; a digest or
   * size mismatch is not: the partial file is removed and a VERIFY error names the blob.
   */
  async ingest(desc: BlobDescriptor, openAt: OpenAt, opts: IngestOptions): Promise<void> {
    const deferral = opts.deferrable && !this.cacheLayer ? this.deferral : undefined;
    if (deferral?.accepts(desc, opts.small) && (deferral.get(desc.digest) || !(await this.has(desc)))) {
      // A small one is kept in the cache as well, as if it had been downloaded here: the next
      // create (an offline --frozen one too) finds it.
      const keep = desc.size < deferral.minBytes ? async (bytes: Buffer) => void (await this.putBytes(bytes, desc.digest)) : undefined;
      deferral.add({ desc, openAt, label: opts.label, retry: opts.retry, onRetry: opts.onRetry, ...(keep ? { keep } : {}) });
      return;
    }
    const label = `${opts.label} ${desc.digest}`;
    if (desc.size <= SMALL_BLOB_BYTES && !this.cacheLayer) {
      return this.ingestOnce(desc.digest, () => this.downloadSmall(desc, openAt, opts).catch((err: unknown) => Promise.reject(this.cacheFull(err, label))));
    }
    return this.ingestOnce(desc.digest, () =>
      this.withBlobLock(desc.digest, () =>
        this.download(desc, openAt, opts).catch(async (err: unknown) => {
          const full = this.cacheFull(err, label);
          // Nothing kept to fill the disk again: the cut-off download is removed (a cache with room
          // fetches it afresh).
          if (full !== err) await rm(`${this.blobPath(desc.digest)}.partial`, { force: true });
          throw full;
        }),
      ),
    );
  }

  /**
   * A write into the cache that failed for want of space (ENOSPC, EDQUOT) names the cache, not a
   * temp or `.partial` name (or none at all), and says how to give ferry another one.
   */
  private cacheFull(err: unknown, what: string): unknown {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') return err;
    return new FerryError('INTERNAL', `${this.root}: the download cache is full: ${code === 'ENOSPC' ? 'no space left on the device' : 'disk quota exceeded'} (writing ${what})`, {
      cause: err,
      hint: 'Free space on the disk that holds the download cache, or give ferry a cache on a disk with room: --cache-dir <dir> or FERRY_CACHE_DIR=<dir> (in CI: the runner\'s cache or the job\'s workspace). Nothing of the cut-off download was kept.',
    });
  }

  /**
   * A small blob (a .deb of a whole APT component, most are a few KB) is received in memory,
   * checked, and written once under a temp name: no lock file, no `.partial` to resume from
   * (a dropped connection continues in memory), a handful of system calls instead of dozens. Two processes fetching it at once each write a verified copy;
   * the second rename replaces the first with the same bytes.
   */
  private async downloadSmall(desc: BlobDescriptor, openAt: OpenAt, opts: IngestOptions): Promise<void> {
    if (await this.has(desc)) return;
    const label = `${opts.label} ${desc.digest}`;
    // Kept across attempts: a dropped connection continues from the byte reached, as the
    // resumable path does, so a source whose whole answer is shorter than the lock says is told
    // by its next answer (416 from a server: VERIFY), not retried as a network failure.
    const chunks: Buffer[] = [];
    let n = 0;
    const bytes = await withRetry(
      label,
      async () => {
        if (n < desc.size) {
          const body = await openAt(n);
          for await (const chunk of body as AsyncIterable<Buffer>) {
            if (n + chunk.length > desc.size) {
              body.destroy();
              throw new FerryError('VERIFY', `${label}: server sent more than the expected ${desc.size} bytes`);
            }
            chunks.push(chunk);
            n += chunk.length;
          }
        }
        if (n < desc.size) throw new RetryableError(`connection ended after ${n} of ${desc.size} bytes`);
        return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, n);
      },
      opts.retry,
      opts.onRetry,
    );
    const problems = mismatches(desc, { digest: digestOf(bytes), size: bytes.length });
    if (problems.length) throw new FerryError('VERIFY', `${label}: ${problems.join('; ')}`, { hint: MISMATCH_HINT });
    opts.onProgress?.(bytes.length);
    await writeFileAtomic(this.blobPath(desc.digest), bytes);
    this.verifiedThisRun.add(desc.digest);
    noteItemDone();
  }

  /**
   * Another ferry process sharing this cache may be downloading the same blob into the same
   * `.partial`: a `<hex>.lock` file (created exclusively, holding the pid) keeps them apart.
   * A lock whose process is gone is taken over.
   */
  private withBlobLock<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    return withPidLock(`${this.blobPath(digest)}.lock`, 'wait', fn);
  }

  private async download(desc: BlobDescriptor, upstream: OpenAt, opts: IngestOptions): Promise<void> {
    if (await this.has(desc)) return;
    const cached = await this.cacheLayer?.source(desc);
    if (cached === 'skip') return;
    const openAt = cached ?? upstream;
    const final = this.blobPath(desc.digest);
    const partial = `${final}.partial`;
    const label = `${opts.label} ${desc.digest}`;
    await mkdir(path.dirname(final), { recursive: true });
    let state = await readPartial(partial, SHA256);
    if (state.size > desc.size) state = await resetPartial(partial, SHA256);
    await withRetry(
      label,
      async () => {
        if (state.size < desc.size) {
          await appendToPartial(partial, SHA256, state, await openAt(state.size), { maxSize: desc.size, label, onProgress: opts.onProgress });
        }
        if (state.size < desc.size) {
          throw new RetryableError(`connection ended after ${state.size} of ${desc.size} bytes`);
        }
      },
      opts.retry,
      opts.onRetry,
    ).catch(async (err) => {
      if (err instanceof FerryError && err.code === 'VERIFY') await rm(partial, { force: true });
      throw err;
    });
    await renameVerified(partial, final, desc, { digest: 'sha256:' + state.hashes[0].digest('hex'), size: state.size, id: state.id }, {
      label,
      hint: MISMATCH_HINT,
    });
    this.verifiedThisRun.add(desc.digest);
    noteItemDone();
    await this.cacheLayer?.stored(desc, final, Boolean(cached));
  }
}
