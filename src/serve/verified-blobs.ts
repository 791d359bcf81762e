import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { createLimit } from '../net/concurrency.js';
import type { ServedBlobs } from '../kinds/serve-route.js';
import type { OciIndex } from '../oci/media-types.js';
import { MAX_MANIFEST_BYTES } from '../store/layout.js';
import type { BlobSource } from '../store/source.js';
import { rangeOf, resolveRange, sendRanged } from './http.js';
import type { BlobPlaces } from './source.js';

const EMPTY_DIGEST = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const sha256Of = (bytes: Uint8Array) => 'sha256:' + createHash('sha256').update(bytes).digest('hex');

/**
 * The blobs of a served bundle or layout, as `serve` hands them out: nothing that arrived is
 * trusted, so no client ever gets a complete body whose bytes differ from the digest announced.
 *
 * - A whole body is hashed while it streams; its last chunk is held back until the hash is
 *   known, and on a mismatch the connection is cut instead (any HTTP client sees a failed
 *   transfer). One chunk per response is held: memory stays bounded.
 * - A partial body (Range) cannot be checked against the digest, so a range is served only
 *   of a blob already hashed whole in this process: the first range request of a blob hashes
 *   it once (concurrent requests share that pass) and the result is remembered.
 * - At most `maxVerifications` such whole-blob passes run at once (distinct blobs); the rest wait.
 * - A blob found damaged is refused from then on, HEAD included (its digest is never announced).
 * - Small blobs (manifests, configs, metadata) are read whole, with a size cap, and checked
 *   before anything is sent.
 */
export class VerifiedBlobs implements ServedBlobs {
  private readonly good = new Set<string>();
  /** digest → what its bytes hash to. */
  private readonly bad = new Map<string, string>();
  private readonly checking = new Map<string, Promise<boolean>>();
  private readonly hashing: <T>(task: () => Promise<T>) => Promise<T>;

  constructor(
    readonly inner: BlobSource,
    /** Told once per damaged blob, naming it; the CLI prints it (escaped). */
    private readonly warn: (message: string) => void = () => {},
    /** Whole-blob hashing passes at once (default 4: hashing is CPU- and disk-bound). */
    maxVerifications = 4,
  ) {
    this.hashing = createLimit(maxVerifications);
  }

  blobSize(digest: string): Promise<number | undefined> {
    return this.inner.blobSize(digest);
  }

  /** Raw, unchecked bytes (BlobSource): routes answer with `send`, which checks them. */
  openBlob(digest: string, start?: number, end?: number): Promise<Readable> {
    return this.inner.openBlob(digest, start, end);
  }

  readIndex(): Promise<OciIndex> {
    return this.inner.readIndex();
  }

  /** A split bundle's parts (source.ts): where a blob lies, and whether its part was found not to match. */
  private places?: BlobPlaces;

  /** Name the part of each blob of a split bundle, and refuse blobs in a part found not to match its .parts list. */
  setPlaces(places: BlobPlaces): void {
    this.places = places;
  }

  /** Whether the blob was found not to match its digest, or lies in a split part found not to match. */
  isDamaged(digest: string): boolean {
    return this.bad.has(digest) || this.places?.refusal(digest) !== undefined;
  }

  /** Message for a damaged blob, for routes to answer with. */
  damaged(label: string, digest: string): string {
    const part = this.places?.refusal(digest);
    if (part && !this.bad.has(digest)) return `${label} ${digest}: ${part}; not served`;
    const where = this.places?.where(digest);
    return `${label} ${digest}: the served bytes do not match this digest (they hash to ${this.bad.get(digest) ?? 'something else'})${where ? `; it lies in ${where}` : ''}; not served`;
  }

  /** A small blob read whole: refused when larger than `maxBytes` or when it does not hash to its digest. */
  async readBlob(digest: string, maxBytes = MAX_MANIFEST_BYTES, label = 'blob'): Promise<Buffer> {
    const size = await this.inner.blobSize(digest);
    if (size === undefined) throw new FerryError('NOT_FOUND', `${label} ${digest}: not there`);
    if (size > maxBytes) throw new FerryError('VERIFY', `${label} ${digest}: ${size} bytes, more than the ${maxBytes} bytes read whole here; not read`);
    if (this.isDamaged(digest)) throw new FerryError('VERIFY', this.damaged(label, digest));
    const bytes = await this.inner.readBlob(digest);
    if (bytes.length > maxBytes) throw new FerryError('VERIFY', `${label} ${digest}: more than ${maxBytes} bytes; not read`);
    if (!this.settle(digest, sha256Of(bytes), label)) throw new FerryError('VERIFY', this.damaged(label, digest));
    return bytes;
  }

  /**
   * Answer GET/HEAD with the blob (`Range` honoured), checked as the class comment says.
   * Returns false, having sent nothing, when the blob is damaged: the caller answers in its
   * own format (an OCI error, a plain 500).
   */
  async send(req: IncomingMessage, res: ServerResponse, digest: string, size: number, headers: Record<string, string>, label: string): Promise<boolean> {
    if (size === 0 && digest !== EMPTY_DIGEST) this.settle(digest, EMPTY_DIGEST, label);
    if (this.isDamaged(digest)) return false;
    const r = resolveRange(rangeOf(req, headers), size);
    const partial = r.status === 206 && (r.start !== 0 || r.end !== size - 1);
    if (partial && req.method !== 'HEAD' && !(await this.verifyWhole(digest, label))) return false;
    await sendRanged(req, res, size, (start, end) => (start === 0 && end === size - 1 ? this.openChecked(digest, size, label) : this.inner.openBlob(digest, start, end)), headers);
    return true;
  }

  /** Record what a blob hashed to; warn (once) when that is not its digest. */
  private settle(digest: string, actual: string, label: string): boolean {
    if (actual === digest) {
      this.good.add(digest);
      return true;
    }
    this.good.delete(digest);
    if (!this.bad.has(digest)) {
      this.bad.set(digest, actual);
      this.warn(this.damaged(label, digest));
    }
    return false;
  }

  private verifyWhole(digest: string, label: string): Promise<boolean> {
    if (this.good.has(digest)) return Promise.resolve(true);
    if (this.bad.has(digest)) return Promise.resolve(false);
    let pass = this.checking.get(digest);
    if (!pass) {
      pass = this.hashing(async () => {
        const hash = createHash('sha256');
        for await (const chunk of await this.inner.openBlob(digest)) hash.update(chunk as Buffer);
        return this.settle(digest, 'sha256:' + hash.digest('hex'), label);
      }).finally(() => this.checking.delete(digest));
      this.checking.set(digest, pass);
    }
    return pass;
  }

  /** The whole blob, hashed as it flows; the last chunk leaves only once the hash matched. */
  private async openChecked(digest: string, size: number, label: string): Promise<Readable> {
    const source = await this.inner.openBlob(digest);
    const hash = createHash('sha256');
    let held: Buffer | undefined;
    let seen = 0;
    const settle = (actual: string) => this.settle(digest, actual, label);
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        seen += chunk.length;
        const previous = held;
        held = chunk;
        cb(null, previous);
      },
      flush(cb) {
        if (!settle('sha256:' + hash.digest('hex')) || seen !== size) {
          cb(new FerryError('VERIFY', `${label} ${digest}: bytes do not match the digest; connection cut`));
          return;
        }
        cb(null, held);
      },
    });
    source.on('error', (err) => check.destroy(err));
    check.on('close', () => source.destroy());
    return source.pipe(check);
  }
}
