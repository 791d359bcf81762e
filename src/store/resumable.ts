import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';

/**
 * A download into a `.partial` file that can continue where it stopped: the hashes of the bytes
 * on disk and their count. Both the blob store and the files downloader resume through this.
 */
export interface PartialState {
  hashes: Hash[];
  size: number;
}

/** Hash what a partial file already holds (nothing when it does not exist). */
export async function readPartial(file: string, algorithms: string[]): Promise<PartialState> {
  const state: PartialState = { hashes: algorithms.map((a) => createHash(a)), size: 0 };
  try {
    await pipeline(
      createReadStream(file),
      new Transform({
        transform(chunk: Buffer, _e, cb) {
          for (const h of state.hashes) h.update(chunk);
          state.size += chunk.length;
          cb();
        },
      }),
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return state;
}

/** Start over: drop the partial file and return an empty state. */
export async function resetPartial(file: string, algorithms: string[]): Promise<PartialState> {
  await rm(file, { force: true });
  return { hashes: algorithms.map((a) => createHash(a)), size: 0 };
}

/**
 * Append `body` to the partial file, hashing and counting as it streams; refuse more than
 * `maxSize` bytes. When the stream fails, the counted bytes may not all have reached the disk,
 * so the state is re-read from the file before the error goes on to the retry policy: the next
 * attempt continues from what the file really holds.
 */
export async function appendToPartial(
  file: string,
  algorithms: string[],
  state: PartialState,
  body: Readable,
  opts: { maxSize?: number; label: string; onProgress?: (bytes: number) => void },
): Promise<void> {
  const out = createWriteStream(file, { flags: 'a' });
  const counter = new Transform({
    transform(chunk: Buffer, _e, cb) {
      if (opts.maxSize !== undefined && state.size + chunk.length > opts.maxSize) {
        cb(new FerryError('VERIFY', `${opts.label}: server sent more than the expected ${opts.maxSize} bytes`));
        return;
      }
      for (const h of state.hashes) h.update(chunk);
      state.size += chunk.length;
      opts.onProgress?.(chunk.length);
      cb(null, chunk);
    },
  });
  try {
    await pipeline(body, counter, out);
  } catch (err) {
    if (!out.closed) await new Promise((r) => out.once('close', r));
    Object.assign(state, await readPartial(file, algorithms));
    throw err;
  }
}
