import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import type { BlobSource } from './source.js';
import { mainThreadHash, type HashThreads } from './hash-threads.js';
import { noteBytesPassed } from './young-gc.js';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

/** Blobs up to this size are read whole and hashed on this thread (readSmall). */
const SMALL_READ = 64 << 10;

/**
 * Blob reads from a bundle, hashed as they pass, so import can push a blob and verify it in the
 * same read (`ferry import` reads the bundle once):
 *  - a stream whose bytes do not hash to the digest, or whose size differs, fails BEFORE its last
 *    chunk is handed on, so an upload fed by it is never completed;
 *  - a stream reopened at `start > 0` (a resumed upload) hashes the prefix [0, start) first;
 *  - every blob whose whole stream hashed right is recorded (`verified`: tar name → hex), and
 *    the verify pass that follows does not read it again.
 */
export class HashedReads {
  /** `blobs/sha256/<hex>` → hex, for each blob read whole and found right. */
  readonly verified = new Map<string, string>();
  /** digest → what was wrong, for each blob found damaged (a reopen fails at once). */
  readonly damaged = new Map<string, string>();
  /** Bundle bytes read through here (prefixes of resumed streams included). */
  bytesRead = 0;

  constructor(
    private readonly source: BlobSource,
    /** Names the bundle in errors. */
    private readonly label: string,
    /** Hash on worker threads (the pushing thread is busy sending); this thread without. */
    private readonly threads?: HashThreads,
  ) {}

  /** The blob from byte `start` to its end, hashed as it flows (see the class comment). */
  async openBlob(digest: string, start = 0): Promise<Readable> {
    const matched = DIGEST.exec(digest)?.[1];
    if (!matched) throw new FerryError('VERIFY', `${this.label}: blob ${JSON.stringify(digest)} is not a sha256 digest`);
    const hex: string = matched;
    const known = this.damaged.get(digest);
    if (known) throw this.mismatch(digest, known);
    const size = await this.source.blobSize(digest);
    if (size === undefined) throw new FerryError('NOT_FOUND', `${this.label}: blob ${digest} is not in the bundle`);
    // A source that checks whole reads itself (a bundle in a registry) is read unchecked: hashed once, here.
    const unchecked = (this.source as { openBlobUnchecked?: (digest: string, start: number) => Promise<Readable> }).openBlobUnchecked;
    if (start === 0 && size <= SMALL_READ && !unchecked) return Readable.from([await this.readSmall(digest, hex, size)], { objectMode: false });
    const hash = this.threads?.stream() ?? mainThreadHash(createHash('sha256'));
    // The prefix of a resumed upload, read from the bundle (not sent) so the hash covers every byte.
    if (start > 0) {
      for await (const c of await this.source.openBlob(digest, 0, start - 1)) {
        await hash.update(c as Buffer);
        this.bytesRead += (c as Buffer).length;
      }
    }
    const body = unchecked ? await unchecked.call(this.source, digest, start) : await this.source.openBlob(digest, start);
    const self = this;
    async function* gen() {
      let seen = start;
      let held: Buffer | undefined;
      try {
        for await (const chunk of body) {
          const c = chunk as Buffer;
          seen += c.length;
          self.bytesRead += c.length;
          noteBytesPassed(c.length);
          if (seen > size!) throw self.fail(digest, `more than its ${size} bytes`);
          await hash.update(c);
          if (held) yield held;
          held = c;
        }
      } finally {
        body.destroy();
      }
      if (seen !== size) throw self.fail(digest, `${seen} of its ${size} bytes`);
      self.settle(digest, hex, await hash.digest());
      // Only now, with the whole blob checked, does its last chunk go on.
      if (held) yield held;
    }
    return Readable.from(gen(), { objectMode: false });
  }

  /**
   * A small blob (a .deb of a whole APT component, a config) read in one positional read and hashed
   * here: opening a stream on the bundle and handing 200 bytes to a hashing thread and back cost
   * more than the bytes (60 000 packages: ~0.2 ms of this thread each). Checked before it is handed on.
   */
  private async readSmall(digest: string, hex: string, size: number): Promise<Buffer> {
    const bytes = await this.source.readBlob(digest, SMALL_READ);
    this.bytesRead += bytes.length;
    noteBytesPassed(bytes.length);
    if (bytes.length !== size) throw this.fail(digest, `${bytes.length} of its ${size} bytes`);
    this.settle(digest, hex, createHash('sha256').update(bytes).digest('hex'));
    return bytes;
  }

  /** A whole blob hashed (`actual`): recorded as verified, or failed as damaged. */
  private settle(digest: string, hex: string, actual: string | undefined): void {
    if (actual !== hex) throw this.fail(digest, `digest mismatch (content hashes to sha256:${actual})`);
    this.verified.set(`blobs/sha256/${hex}`, hex);
  }

  private fail(digest: string, what: string): FerryError {
    this.damaged.set(digest, what);
    return this.mismatch(digest, what);
  }

  private mismatch(digest: string, what: string): FerryError {
    return new FerryError('VERIFY', `${this.label}: blob ${digest}: ${what}; the upload was not completed`, {
      hint: 'The bundle is damaged: copy it across again (compare `sha256sum` on both sides), or recreate it.',
    });
  }
}
