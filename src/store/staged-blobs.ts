import { constants as fsc, type Stats } from 'node:fs';
import { link, lstat, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { singleFlight } from '../net/concurrency.js';
import type { HashedReads } from './hashed-reads.js';
import { identityOf, isSameFile, plainMode, releaseTemp, sweepStaleTempsOnce, tempPathFor, tempPathWithTail, tempTail, withPlace, type FileIdentity } from './temp-files.js';
import { checkInsideTarget, confiningRoot, holdMadeChild, holdMadeDir, type HeldDir } from './confined-dirs.js';
import { isWithin } from './safe-path.js';
import { noteItemDone } from './young-gc.js';

const DIGEST = /^sha256:([a-f0-9]{64})$/;
/** Blobs up to this size are staged from one buffer instead of a stream. */
const SMALL_STAGE_BYTES = 256 << 10;
/**
 * Directories held open at once (placing a whole APT component places into one per package;
 * packages come sorted by path, so the last directories held are the ones asked for again).
 */
const MAX_DIRS_HELD = 64;

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
 *
 * Every directory is made and held open (holdMadeDir: each level made in the one above, checked
 * to stay inside the target): the staged copy is created, linked, given its mode and renamed in
 * the directory that was checked, through its descriptor, not through a link another user plants
 * under its path meanwhile. Directories are held once each (a bounded number at a time), not per file.
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
  /** Directories held open (holdMadeDir), most recently used last; `users` counts the calls using one now (never closed under them). */
  private readonly held = new Map<string, { dir: Promise<HeldDir>; users: number }>();

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
      let at = this.stagedIn.indexOf(dir);
      if (at < 0) at = this.stagedIn.push(dir) - 1;
      const id = await this.withDir(dir, async (dirAt) => {
        // What a killed import staged here before is removed first (its process is gone).
        await sweepStaleTempsOnce(dir);
        return this.stageIn(desc, dir, path.join(dirAt, this.stagedName(desc.digest)), onBytes);
      });
      this.staged.set(desc.digest, { at, ...id });
      noteItemDone();
    });
  }

  /** Write the blob to `tmp` (its staged name through the held directory `dir`): created new, owner-only, hashed as it streams. */
  private async stageIn(desc: { digest: string; size: number }, dir: string, tmp: string, onBytes?: (n: number) => void): Promise<Identity> {
    try {
      // Owner-only while it waits for the verify pass; the descriptor written through says what it is.
      const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
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
        return identityOf(await fh.stat());
      } finally {
        await fh.close();
      }
    } catch (err) {
      await rm(tmp, { force: true });
      // A stream's write error (ENOSPC) names no file: the place is the directory written to.
      throw withPlace(err, dir, tmp);
    }
  }

  /**
   * Put the staged copy of `digest` at `dest`, replacing what is there in one rename. False
   * when it was not staged: the caller writes it from the bundle as before.
   */
  async place(digest: string, dest: string): Promise<boolean> {
    const staged = this.staged.get(digest);
    if (staged === undefined) return false;
    const from = this.stagedPath(staged.at, digest);
    await this.withDir(this.stagedIn[staged.at], (stagedAt) =>
      this.withDir(path.dirname(dest), async (destDirAt, made) => {
        // The directory is checked where its descriptor is (holdMadeDir); the name in it is replaced by
        // the rename, never followed, but a link planted there that leads outside (or nowhere) is named, as before.
        if ((await lstat(path.join(destDirAt, path.basename(dest))).catch(() => undefined))?.isSymbolicLink()) await checkInsideTarget(dest);
        // A run killed between its link and its rename left `<dest>.ferry-<pid>-….tmp` here (an APT
        // pool directory, a files directory): gone once its process is, as the staging directory's
        // are. A directory this import made holds none.
        if (!made) await sweepStaleTempsOnce(path.dirname(dest));
        const tmp = tempPathFor(dest);
        const tmpAt = path.join(destDirAt, path.basename(tmp));
        const fromAt = path.join(stagedAt, path.basename(from));
        try {
          let linked = true;
          try {
            await link(fromAt, tmpAt);
          } catch {
            linked = false;
          }
          // The link is of whatever holds the staged name now: that must be the file staged. Its
          // mode is set through a descriptor of that file (a name swapped for a link leads no chmod elsewhere).
          let placed: Identity;
          if (linked) placed = await this.modeChecked(staged, tmpAt, from, digest, dest);
          // Another filesystem mounted below the target directory, or links refused: a local copy,
          // read through a descriptor checked the same way.
          else placed = await this.copyChecked(staged, fromAt, tmpAt, from, digest, dest);
          if (!isSameFile(await lstat(tmpAt).catch(() => undefined), placed)) this.checkSame(staged, undefined, from, digest, dest);
          await rename(tmpAt, path.join(destDirAt, path.basename(dest)));
        } catch (err) {
          await rm(tmpAt, { force: true });
          throw withPlace(err, dest, tmpAt);
        } finally {
          releaseTemp(tmp);
        }
      }),
    );
    noteItemDone();
    return true;
  }

  /** Give the link `tmpAt` the mode a plain write gives, through a descriptor checked to be the file staged; its identity then. */
  private async modeChecked(staged: Identity, tmpAt: string, from: string, digest: string, dest: string): Promise<Identity> {
    const fh = await open(tmpAt, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try {
      const st = await fh.stat();
      this.checkSame(staged, st, from, digest, dest);
      // A mode change moves no modification time: the identity is the one just checked.
      await fh.chmod(plainMode());
      return identityOf(st);
    } finally {
      await fh.close();
    }
  }

  /** Throws when `st` is not the file staged for `digest` (renamed over, or written into since). */
  private checkSame(staged: Identity, st: Stats | undefined, from: string, digest: string, dest: string): void {
    const now = st === undefined ? { dev: -1, ino: -1, size: -1, mtimeMs: -1 } : identityOf(st);
    if (st?.isFile() && now.dev === staged.dev && now.ino === staged.ino && now.size === staged.size && now.mtimeMs === staged.mtimeMs) return;
    const what = now.dev === staged.dev && now.ino === staged.ino ? 'written into' : 'replaced by another file';
    throw new FerryError('CONFLICT', `${from}: the staged copy of ${digest} (hashed against the bundle) was ${what} before it was placed at ${dest}; it was not placed`, {
      hint: `Something else writes in ${path.dirname(from)} (ferry stages each file there under a temporary name while it verifies the rest of the bundle): find out what, then import again; files placed before are intact and a rerun skips them.`,
    });
  }

  /** Copy the staged file to `tmpAt` (a new name, created owner-only) through descriptors, the source checked to be the file staged; the copy's identity. */
  private async copyChecked(staged: Identity, fromAt: string, tmpAt: string, from: string, digest: string, dest: string): Promise<Identity> {
    const fh = await open(fromAt, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    try {
      this.checkSame(staged, await fh.stat(), from, digest, dest);
      const out = await open(tmpAt, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      try {
        await pipeline(fh.createReadStream({ autoClose: false, start: 0 }), out.createWriteStream({ autoClose: false }));
        await out.chmod(plainMode());
        return identityOf(await out.stat());
      } finally {
        await out.close();
      }
    } finally {
      await fh.close();
    }
  }

  /** The staged copy of `digest`'s name: `.ferry-staged-<hex>.ferry-<tail>.tmp`, a temp name the sweep knows. */
  private stagedName(digest: string): string {
    return path.basename(tempPathWithTail(`.ferry-staged-${digest.slice('sha256:'.length)}`, this.tail));
  }

  /** The staged copy of `digest` in stagedIn[at], by path (for messages). */
  private stagedPath(at: number, digest: string): string {
    return path.join(this.stagedIn[at], this.stagedName(digest));
  }

  /** Run `use` with `dir` made and held (see the class comment); at most MAX_DIRS_HELD are kept open, none closed while in use. */
  private async withDir<T>(dir: string, use: (at: string, made: boolean) => Promise<T>): Promise<T> {
    let e = this.held.get(dir);
    if (e) this.held.delete(dir);
    else {
      const made = this.hold(dir);
      e = { dir: made, users: 0 };
      const entry = e;
      made.catch(() => {
        if (this.held.get(dir) === entry) this.held.delete(dir);
      });
    }
    this.held.set(dir, e);
    e.users++;
    try {
      await this.trimHeld();
      const held = await e.dir;
      return await use(held.at, held.made === true);
    } finally {
      e.users--;
      // Dropped from the map while in use (trimmed, cleaned up): closed by its last user.
      if (e.users === 0 && this.held.get(dir) !== e) await e.dir.then((h) => h.close(), () => undefined);
    }
  }

  /**
   * `dir` made and held: under a target directory, in its parent held here (itself held the same
   * way, up to the target directory), so that placing the packages of one pool directory opens no
   * level above them again; each directory is checked where its own descriptor is (holdMadeChild).
   */
  private hold(dir: string): Promise<HeldDir> {
    const root = confiningRoot(dir);
    const parent = path.dirname(dir);
    if (root === undefined || parent === dir || !isWithin(parent, root)) return holdMadeDir(dir);
    return this.withDir(parent, (at) => holdMadeChild({ at }, parent, root, path.basename(dir)));
  }

  /** Close the least recently used directories no call is using, down to MAX_DIRS_HELD. */
  private async trimHeld(): Promise<void> {
    for (const [d, e] of this.held) {
      if (this.held.size <= MAX_DIRS_HELD) break;
      if (e.users > 0) continue;
      this.held.delete(d);
      await e.dir.then((h) => h.close(), () => undefined);
    }
  }

  /** Remove every staged copy (the placed files keep their own links). */
  async cleanup(): Promise<void> {
    try {
      // Through the directory staged in while it is held (a directory gone since is not made again to clean it).
      for (const [digest, { at }] of this.staged) {
        const held = await this.held.get(this.stagedIn[at])?.dir.catch(() => undefined);
        await rm(path.join(held?.at ?? this.stagedIn[at], this.stagedName(digest)), { force: true });
      }
      this.staged.clear();
    } finally {
      const held = [...this.held.values()];
      this.held.clear();
      for (const e of held) if (e.users === 0) await e.dir.then((h) => h.close(), () => undefined);
    }
  }
}
