import { createHash, type Hash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';
import { identityOf, type FileIdentity } from './temp-files.js';
import { specialKind } from './verified-write.js';

/**
 * A download into a `.partial` file that can continue where it stopped: the hashes of the bytes
 * on disk and their count. Both the blob store and the files downloader resume through this,
 * and both end in the one verified rename (`renameVerified` in verified-write.ts).
 */
export interface PartialState {
  hashes: Hash[];
  size: number;
  /**
   * What the partial file is on disk as last hashed (device, inode, size, modification time),
   * once it exists: the next append and the rename into place check it, so a file another user
   * renamed over the `.partial` name of a shared cache (or wrote into) in between is refused,
   * never continued nor placed as the verified blob.
   */
  id?: FileIdentity;
}

/**
 * Hash what a partial file already holds (nothing when it does not exist), read through one
 * descriptor that follows no link: a link planted under the `.partial` name is removed (ferry
 * never makes one there) and the download starts over.
 */
export async function readPartial(file: string, algorithms: string[]): Promise<PartialState> {
  const state: PartialState = { hashes: algorithms.map((a) => createHash(a)), size: 0 };
  let fh;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') await rm(file, { force: true });
    else if (code !== 'ENOENT') throw err;
    return state;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notAPartial(file, specialKind(st));
    await pipeline(
      fh.createReadStream({ autoClose: false, start: 0 }),
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          for (const h of state.hashes) h.update(chunk);
          state.size += chunk.length;
          cb();
        },
      }),
    );
    state.id = identityOf(await fh.stat());
  } finally {
    await fh.close();
  }
  return state;
}

function notAPartial(file: string, what: string): FerryError {
  return new FerryError('CONFLICT', `${file}: ${what} under the name of a download's partial file; ferry neither reads nor replaces it`, {
    hint: `Remove it (ferry writes only regular files under ${path.dirname(file)}; check who put it there), then run again.`,
  });
}

function partialChanged(file: string): FerryError {
  return new FerryError('CONFLICT', `${file}: the partial download was replaced or written into by something else since ferry hashed it; it is not continued`, {
    hint: `Something else writes in ${path.dirname(file)} (another user or program sharing the cache): find out what and stop it, then run again; the download starts over.`,
  });
}

/** Start over: drop the partial file and return an empty state. */
export async function resetPartial(file: string, algorithms: string[]): Promise<PartialState> {
  await rm(file, { force: true });
  return { hashes: algorithms.map((a) => createHash(a)), size: 0 };
}

/**
 * Append `body` to the partial file, hashing and counting as it streams; refuse more than
 * `maxSize` bytes. Each chunk is written before it is counted, so when the stream fails every
 * byte received so far is on disk and the next attempt continues from there (a piped write
 * stream would be destroyed with its buffer unwritten). Should a write itself fail, the state is
 * re-read from what the file really holds before the error goes on to the retry policy.
 * The file is opened without following a link, created owner-only (0600), and must be the file
 * hashed so far (state.id; new and empty when nothing was): one renamed over it or written into
 * meanwhile is refused (CONFLICT). state.id follows what this descriptor wrote.
 */
export async function appendToPartial(
  file: string,
  algorithms: string[],
  state: PartialState,
  body: Readable,
  opts: { maxSize?: number; label: string; onProgress?: (bytes: number) => void },
): Promise<void> {
  const out = await open(file, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW, 0o600).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ELOOP') {
      body.destroy();
      throw partialChanged(file);
    }
    throw err;
  });
  let writeFailed = false;
  let closed = false;
  let ours = false;
  try {
    const st = await out.stat();
    if (!st.isFile()) throw notAPartial(file, specialKind(st));
    const was = identityOf(st);
    const same = state.id === undefined ? state.size === 0 && was.size === 0 : was.dev === state.id.dev && was.ino === state.id.ino && was.size === state.id.size && was.mtimeMs === state.id.mtimeMs;
    if (!same) {
      body.destroy();
      throw partialChanged(file);
    }
    state.id = was;
    ours = true;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (opts.maxSize !== undefined && state.size + chunk.length > opts.maxSize) {
        body.destroy();
        throw new FerryError('VERIFY', `${opts.label}: server sent more than the expected ${opts.maxSize} bytes`);
      }
      try {
        await out.write(chunk);
      } catch (err) {
        writeFailed = true;
        throw err;
      }
      for (const h of state.hashes) h.update(chunk);
      state.size += chunk.length;
      opts.onProgress?.(chunk.length);
    }
    state.id = identityOf(await out.stat());
  } catch (err) {
    // The bytes written so far stay for the next attempt: what this descriptor holds now is the file hashed.
    if (ours && !writeFailed) state.id = await out.stat().then(identityOf, () => undefined);
    await out.close();
    closed = true;
    if (writeFailed) Object.assign(state, await readPartial(file, algorithms));
    throw err;
  } finally {
    if (!closed) await out.close();
  }
}
