import { constants as fsc, createWriteStream, type Stats } from 'node:fs';
import { chmod, link, lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { singleFlight } from '../net/concurrency.js';
import type { HashedReads } from './hashed-reads.js';
import { identityOf, plainMode, releaseTemp, sweepStaleTempsOnce, tempPathFor, tempPathWithTail, tempTail, withPlace, type FileIdentity } from './temp-files.js';
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
 *
 * What is placed is what was hashed: the staged copy sits under its temporary name through the
 * whole verify pass, in a directory other users may write (a shared files directory). It is
 * made owner-only (0600: nobody else opens it to write into it), and its identity (device,
 * inode, size, modification time) is taken from the descriptor its bytes were written through;
 * placing checks the link (or the descriptor a copy reads) against that identity, so a copy
 * renamed over, or written into, in between is refused, never placed as the verified file.
 * The placed file then gets the mode a plain write gives (0666 less the umask), as before.
 */
/** What a staged copy is on disk (temp-files.ts): a file renamed over it, or written into, differs. */
type Identity = FileIdentity;

/** A staged blob: its directory (an index into stagedIn) and its identity. */
interface Staged extends Identity {
  at: number;
}

export class StagedBlobs {
  /**
   * digest → the directory its staged copy is in (an index into stagedIn) and its identity; the copy's name is
   * made from the digest and this import's temp-name tail. A whole APT component stages 60 000
   * blobs: a full path each was ~14 MB held through the verify pass.
   */
  private readonly staged = new Map<string, Staged>();
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
      let id: Identity;
      try {
        // Owner-only while it waits for the verify pass; the descriptor written through says what it is.
        const fh = await open(tmp, 'wx', 0o600);
        try {
          const body = await this.hashed.openBlob(desc.digest);
          if (desc.size <= SMALL_STAGE_BYTES) {
            // Small (a .deb of a whole APT component): taken whole, written in one call; the
            // last chunk arrives only once the blob hashed right.
            const chunks: Buffer[] = [];
            for await (const c of body as AsyncIterable<Buffer>) chunks.push(c);
            const bytes = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
            await fh.writeFile(bytes);
            onBytes?.(bytes.length);
          } else {
            const count = new Transform({
              transform(chunk: Buffer, _e, cb) {
                onBytes?.(chunk.length);
                cb(null, chunk);
              },
            });
            // Written through the one descriptor (each chunk whole), which stays open for its stat.
            await pipeline(body, count, async (chunks: AsyncIterable<Buffer>) => {
              for await (const c of chunks) await fh.writeFile(c);
            });
          }
          id = identityOf(await fh.stat());
        } finally {
          await fh.close();
        }
      } catch (err) {
        await rm(tmp, { force: true });
        // A stream's write error (ENOSPC) names no file: the place is the directory written to.
        throw withPlace(err, dir);
      }
      this.staged.set(desc.digest, { at, ...id });
      noteItemDone();
    });
  }

  /**
   * Put the staged copy of `digest` at `dest`, replacing what is there in one rename. False
   * when it was not staged: the caller writes it from the bundle as before.
   */
  async place(digest: string, dest: string): Promise<boolean> {
    const staged = this.staged.get(digest);
    if (staged === undefined) return false;
    const from = this.stagedPath(staged.at, digest);
    await checkInsideTarget(dest);
    await this.mkdir(path.dirname(dest));
    // A run killed between its link and its rename left `<dest>.ferry-<pid>-….tmp` here (an APT
    // pool directory, a files directory): gone once its process is, as the staging directory's are.
    await sweepStaleTempsOnce(path.dirname(dest));
    const tmp = tempPathFor(dest);
    try {
      let linked = true;
      try {
        await link(from, tmp);
      } catch {
        linked = false;
      }
      // The link is of whatever holds the staged name now: that must be the file staged.
      if (linked) this.checkSame(staged, await lstat(tmp), from, digest, dest);
      // Another filesystem mounted below the target directory, or links refused: a local copy,
      // read through a descriptor checked the same way.
      else await this.copyChecked(staged, from, tmp, digest, dest);
      await chmod(tmp, plainMode());
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

  /** Throws when `st` is not the file staged for `digest` (renamed over, or written into since). */
  private checkSame(staged: Identity, st: Stats, from: string, digest: string, dest: string): void {
    const now = identityOf(st);
    if (st.isFile() && now.dev === staged.dev && now.ino === staged.ino && now.size === staged.size && now.mtimeMs === staged.mtimeMs) return;
    const what = now.dev === staged.dev && now.ino === staged.ino ? 'written into' : 'replaced by another file';
    throw new FerryError('CONFLICT', `${from}: the staged copy of ${digest} (hashed against the bundle) was ${what} before it was placed at ${dest}; it was not placed`, {
      hint: `Something else writes in ${path.dirname(from)} (ferry stages each file there under a temporary name while it verifies the rest of the bundle): find out what, then import again; files placed before are intact and a rerun skips them.`,
    });
  }

  /** Copy the staged file to `tmp` (a new name) through one descriptor, checked to be the file staged. */
  private async copyChecked(staged: Identity, from: string, tmp: string, digest: string, dest: string): Promise<void> {
    const fh = await open(from, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    try {
      this.checkSame(staged, await fh.stat(), from, digest, dest);
      await pipeline(fh.createReadStream({ autoClose: false, start: 0 }), createWriteStream(tmp, { flags: 'wx' }));
    } finally {
      await fh.close();
    }
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
    for (const [digest, { at }] of this.staged) await rm(this.stagedPath(at, digest), { force: true });
    this.staged.clear();
  }
}
