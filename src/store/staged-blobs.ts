import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { singleFlight } from '../net/concurrency.js';
import type { HashedReads } from './hashed-reads.js';
import { releaseTemp, sweepStaleTempsOnce, tempPathFor, tempPathWithTail, tempTail, withPlace } from './temp-files.js';
import { checkInsideTarget } from './confined-dirs.js';
import { noteItemDone } from './young-gc.js';

const DIGEST = /^sha256:([a-f0-9]{64})$/;
/** Blobs up to this size are staged from one buffer instead of a stream. */
const SMALL_STAGE_BYTES = 256 << 10;
/** Directories remembered as made (placing a whole APT component makes one per package). */
const MAX_DIRS_REMEMBERED = 1024;

/**
 * `ferry import` into directory targets (files, a chart repository, an OCI layout) reading the
 * bundle once. In the blob pass, each blob a directory will hold is written into that
 * directory under a temporary name, hashed as it streams out of the bundle (HashedReads: a
 * blob whose bytes are wrong fails before its end, and its temporary file is removed); nothing
 * carries a final name yet. The verify pass then reads only the rest of the bundle. Only when
 * it passed do the kinds place each file: a hard link of the staged copy under a temporary
 * name, renamed over the final name (a copy where a link is refused). Everything staged is
 * removed at the end, passed or failed; a run killed midway leaves temporary names that the
 * next import staging in that directory sweeps (temp-files.ts).
 */
export class StagedBlobs {
  /**
   * digest → the directory its staged copy is in (an index into stagedIn); the copy's name is
   * made from the digest and this import's temp-name tail. A whole APT component stages 60 000
   * blobs: a full path each was ~14 MB held through the verify pass.
   */
  private readonly staged = new Map<string, number>();
  private readonly stagedIn: string[] = [];
  private readonly tail = tempTail();
  private readonly once = singleFlight<string, void>();
  /** Directories this import created or found recently (a whole APT component stages into a few, tens of thousands of times). */
  private readonly dirs = new Set<string>();

  constructor(private readonly hashed: HashedReads) {}

  /**
   * Stage a blob in `dir` (the directory its final name will be in or under, so that a link
   * reaches it), once per digest; `onBytes` sees the bytes as they are written.
   */
  async stage(desc: { digest: string; size: number }, dir: string, onBytes?: (n: number) => void): Promise<void> {
    const hex = DIGEST.exec(desc.digest)?.[1];
    if (!hex) throw new FerryError('VERIFY', `blob ${JSON.stringify(desc.digest).slice(0, 100)} is not a sha256 digest; nothing written for it`);
    if (this.staged.has(desc.digest)) return;
    await this.once(desc.digest, async () => {
      if (this.staged.has(desc.digest)) return;
      await this.mkdir(dir);
      // What a killed import staged here before is removed first (its process is gone).
      await sweepStaleTempsOnce(dir);
      let at = this.stagedIn.indexOf(dir);
      if (at < 0) at = this.stagedIn.push(dir) - 1;
      const tmp = this.stagedPath(at, desc.digest);
      try {
        const body = await this.hashed.openBlob(desc.digest);
        if (desc.size <= SMALL_STAGE_BYTES) {
          // Small (a .deb of a whole APT component): taken whole, written in one call; the
          // last chunk arrives only once the blob hashed right.
          const chunks: Buffer[] = [];
          for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
          const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          await writeFile(tmp, bytes, { flag: 'wx' });
          onBytes?.(bytes.length);
        } else {
          const count = new Transform({
            transform(chunk: Buffer, _e, cb) {
              onBytes?.(chunk.length);
              cb(null, chunk);
            },
          });
          await pipeline(body, count, createWriteStream(tmp, { flags: 'wx' }));
        }
      } catch (err) {
        await rm(tmp, { force: true });
        // A stream's write error (ENOSPC) names no file: the place is the directory written to.
        throw withPlace(err, dir);
      }
      this.staged.set(desc.digest, at);
      noteItemDone();
    });
  }

  /**
   * Put the staged copy of `digest` at `dest`, replacing what is there in one rename. False
   * when it was not staged: the caller writes it from the bundle as before.
   */
  async place(digest: string, dest: string): Promise<boolean> {
    const at = this.staged.get(digest);
    if (at === undefined) return false;
    const from = this.stagedPath(at, digest);
    await checkInsideTarget(dest);
    await this.mkdir(path.dirname(dest));
    // A run killed between its link and its rename left `<dest>.ferry-<pid>-….tmp` here (an APT
    // pool directory, a files directory): gone once its process is, as the staging directory's are.
    await sweepStaleTempsOnce(path.dirname(dest));
    const tmp = tempPathFor(dest);
    try {
      try {
        await link(from, tmp);
      } catch {
        // Another filesystem mounted below the target directory, or links refused: a local copy.
        await copyFile(from, tmp);
      }
      await rename(tmp, dest);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    } finally {
      releaseTemp(tmp);
    }
    noteItemDone();
    return true;
  }

  /** The staged copy of `digest` in stagedIn[at]: `.ferry-staged-<hex>.ferry-<tail>.tmp`, a temp name the sweep knows. */
  private stagedPath(at: number, digest: string): string {
    return tempPathWithTail(path.join(this.stagedIn[at], `.ferry-staged-${digest.slice('sha256:'.length)}`), this.tail);
  }

  private async mkdir(dir: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    await checkInsideTarget(dir);
    await mkdir(dir, { recursive: true });
    // Packages come sorted by path: the last directories made are the ones asked for again.
    if (this.dirs.size >= MAX_DIRS_REMEMBERED) this.dirs.clear();
    this.dirs.add(dir);
  }

  /** Remove every staged copy (the placed files keep their own links). */
  async cleanup(): Promise<void> {
    for (const [digest, at] of this.staged) await rm(this.stagedPath(at, digest), { force: true });
    this.staged.clear();
  }
}
