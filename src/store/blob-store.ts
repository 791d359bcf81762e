import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { RetryableError, withRetry, type RetryPolicy } from '../net/retry.js';
import { appendToPartial, readPartial, resetPartial } from './resumable.js';
import { processAlive, sweepStaleTempsOnce, writeViaTemp } from './temp-files.js';

const SHA256 = ['sha256'];

export interface BlobDescriptor {
  digest: string;
  size: number;
  mediaType?: string;
}

export function sha256Hex(digest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  if (!m) throw new FerryError('VALIDATION', `${digest}: unsupported digest (ferry stores sha256 only)`);
  return m[1];
}

export function digestOf(bytes: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

export type OpenAt = (offset: number) => Promise<Readable>;

export interface IngestOptions {
  /** Names the artifact in errors: `docker.io/library/alpine:3.20 layer`. */
  label: string;
  retry?: RetryPolicy;
  onProgress?: (bytes: number) => void;
  onRetry?: (message: string) => void;
}

/**
 * Content-addressed blobs laid out as an OCI image layout (`blobs/sha256/<hex>`), so a store
 * directory is readable by any OCI tool. Writes go to `<hex>.partial`, are hashed while they
 * stream, and are renamed into place only after the digest and size matched.
 */
export class BlobStore {
  readonly root: string;
  private readonly inflight = new Map<string, Promise<void>>();
  /** Blobs whose bytes this process hashed on the way in: packing them again need not re-hash. */
  readonly verifiedThisRun = new Set<string>();

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', sha256Hex(digest));
  }

  async init(): Promise<void> {
    await mkdir(path.join(this.root, 'blobs', 'sha256'), { recursive: true });
    await sweepStaleTempsOnce(path.join(this.root, 'blobs', 'sha256'));
    await writeFile(path.join(this.root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  }

  async has(desc: BlobDescriptor): Promise<boolean> {
    try {
      const s = await stat(this.blobPath(desc.digest));
      return s.size === desc.size;
    } catch {
      return false;
    }
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
    const final = this.blobPath(digest);
    await mkdir(path.dirname(final), { recursive: true });
    // The same manifest can arrive twice at once (an image named by tag and by digest): unique temp names.
    await writeViaTemp(final, (tmp) => writeFile(tmp, bytes));
    this.verifiedThisRun.add(digest);
    return { digest, size: bytes.length };
  }

  /**
   * Stream a blob in, resuming a partial download (from this run or an interrupted earlier one)
   * with `openAt(offset)`. Transient failures are retried under the one policy; a digest or
   * size mismatch is not: the partial file is removed and a VERIFY error names the blob.
   */
  async ingest(desc: BlobDescriptor, openAt: OpenAt, opts: IngestOptions): Promise<void> {
    // Images share layers: concurrent fetches of one blob wait for the one download.
    const running = this.inflight.get(desc.digest);
    if (running) return running;
    const p = this.withBlobLock(desc.digest, () => this.ingestOnce(desc, openAt, opts)).finally(() => this.inflight.delete(desc.digest));
    this.inflight.set(desc.digest, p);
    return p;
  }

  /**
   * Another ferry process sharing this cache may be downloading the same blob into the same
   * `.partial`: a `<hex>.lock` file (created exclusively, holding the pid) keeps them apart.
   * A lock whose process is gone is taken over.
   */
  private async withBlobLock<T>(digest: string, fn: () => Promise<T>): Promise<T> {
    const lock = `${this.blobPath(digest)}.lock`;
    await mkdir(path.dirname(lock), { recursive: true });
    for (;;) {
      try {
        const fh = await open(lock, 'wx');
        await fh.writeFile(String(process.pid));
        await fh.close();
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number(await readFile(lock, 'utf8').catch(() => ''));
        if (!pid || !processAlive(pid)) {
          await rm(lock, { force: true });
          continue;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    try {
      return await fn();
    } finally {
      await rm(lock, { force: true });
    }
  }

  private async ingestOnce(desc: BlobDescriptor, openAt: OpenAt, opts: IngestOptions): Promise<void> {
    if (await this.has(desc)) return;
    const final = this.blobPath(desc.digest);
    const partial = `${final}.partial`;
    await mkdir(path.dirname(final), { recursive: true });
    let state = await readPartial(partial, SHA256);
    if (state.size > desc.size) state = await resetPartial(partial, SHA256);
    await withRetry(
      `${opts.label} ${desc.digest}`,
      async () => {
        if (state.size < desc.size) {
          await appendToPartial(partial, SHA256, state, await openAt(state.size), {
            maxSize: desc.size,
            label: `${opts.label} ${desc.digest}`,
            onProgress: opts.onProgress,
          });
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
    const actual = 'sha256:' + state.hashes[0].digest('hex');
    if (actual !== desc.digest) {
      await rm(partial, { force: true });
      throw new FerryError('VERIFY', `${opts.label} ${desc.digest}: digest mismatch (received content hashes to ${actual})`, {
        hint: 'The source served different bytes than its manifest names. Nothing was kept; if it persists, report it to the registry operator.',
      });
    }
    await rename(partial, final);
    this.verifiedThisRun.add(desc.digest);
  }
}
