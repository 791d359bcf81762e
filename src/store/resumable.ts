import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FerryError } from '../errors.js';

/**
 * A download into a `.partial` file that can continue where it stopped: the hashes of the bytes
 * on disk and their count. Both the blob store and the files downloader resume through this,
 * and both end in the one verified rename (`renameVerified` in verified-write.ts).
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
 * `maxSize` bytes. Each chunk is written before it is counted, so when the stream fails every
 * byte received so far is on disk and the next attempt continues from there (a piped write
 * stream would be destroyed with its buffer unwritten). Should a write itself fail, the state is
 * re-read from what the file really holds before the error goes on to the retry policy.
 */
export async function appendToPartial(
  file: string,
  algorithms: string[],
  state: PartialState,
  body: Readable,
  opts: { maxSize?: number; label: string; onProgress?: (bytes: number) => void },
): Promise<void> {
  const out = await open(file, 'a');
  let writeFailed = false;
  let closed = false;
  try {
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
  } catch (err) {
    await out.close();
    closed = true;
    if (writeFailed) Object.assign(state, await readPartial(file, algorithms));
    throw err;
  } finally {
    if (!closed) await out.close();
  }
}
