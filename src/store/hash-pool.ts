import { hash as hashOnce } from 'node:crypto';
import { read } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerBooting } from './young-gc.js';
import { FerryError } from '../errors.js';

/** A byte range of one file to hash (a tar entry's data, say). */
export interface HashRange {
  name: string;
  offset: number;
  size: number;
}

export interface HashRangesOptions {
  /** Called with the number of bytes hashed since the last call. */
  onProgress?: (bytes: number) => void;
  /** Keep this range's hash in the result? (Only the interesting ones are kept: memory stays flat.) */
  keep: (name: string, hex: string) => boolean;
  /**
   * Hashing threads for the large ranges (each hashes one range at a time, reading it with two
   * alternating buffers so the next read overlaps the current hash). Default: the CPUs
   * available, at most 4, or FERRY_HASH_THREADS. 1 = everything on the calling thread.
   */
  threads?: number;
}

/** Small entries share one window read on the calling thread. */
const WINDOW = 1 << 20;
/** Each read of a large range; two buffers of it per hashing lane. */
const CHUNK = 512 << 10;
/** A worker reports progress at most this often (bytes). */
const PROGRESS_EVERY = 8 << 20;
const MAX_THREADS = 4;

/**
 * The sha256 of every range of `file`, in hex, for the ranges `keep` selects. Ranges no larger
 * than a window are read and hashed on this thread, sharing 1 MiB sequential reads; larger ones
 * go to a pool of worker threads (several blobs hashed at once) when there are two or more of
 * them and more than one CPU, else they are hashed here. Every lane double-buffers its reads.
 * A file that ends before a range does fails with VERIFY naming the range.
 */
export async function hashRanges(source: string | { path: string; fd: number }, ranges: HashRange[], opts: HashRangesOptions): Promise<Map<string, string>> {
  // Given an open descriptor (a bundle reader's), every read goes through it, on this thread and
  // in the workers: the bytes hashed are those of the file the caller opened and checked, even
  // if another file has since taken its name. The caller keeps it open until this returns.
  const file = typeof source === 'string' ? source : source.path;
  const given = typeof source === 'string' ? undefined : source.fd;
  const out = new Map<string, string>();
  const sorted = [...ranges].sort((a, b) => a.offset - b.offset);
  const small = sorted.filter((r) => r.size <= WINDOW);
  const large = sorted.filter((r) => r.size > WINDOW);
  const threads = Math.min(hashThreads(opts.threads), large.length);
  const truncated = (name: string) => new FerryError('VERIFY', `${file}: ended before ${name} was complete (truncated?)`);
  const done = (r: HashRange, hex: string) => {
    if (opts.keep(r.name, hex)) out.set(r.name, hex);
  };

  const fh = given === undefined ? await open(file, 'r') : undefined;
  const fd = given ?? fh!.fd;
  const pool = threads > 1 ? new HashWorkers(fd, threads) : undefined;
  try {
    const largeDone = pool
      ? pool.run(large, opts.onProgress, done, truncated)
      : (async () => {
          const bufs: [Buffer, Buffer] = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
          for (const r of large) {
            try {
              done(r, await hashFileRange(fd, r.offset, r.size, bufs, (n) => opts.onProgress?.(n)));
            } catch (err) {
              throw (err as NodeJS.ErrnoException).code === 'FERRY_TRUNCATED' ? truncated(r.name) : err;
            }
          }
        })();
    // Meanwhile, the small ones here: whole entries in one window get a one-shot hash (no
    // Hash object: each holds native state until it is collected, and 80 000 of them add up).
    const smallDone = (async () => {
      const buf = Buffer.allocUnsafe(WINDOW);
      let winStart = 0;
      let winEnd = 0;
      for (const r of small) {
        const end = r.offset + r.size;
        if (r.offset < winStart || end > winEnd) {
          const bytesRead = await readAt(fd, buf, r.offset);
          winStart = r.offset;
          winEnd = r.offset + bytesRead;
          if (end > winEnd) throw truncated(r.name);
        }
        done(r, hashOnce('sha256', buf.subarray(r.offset - winStart, end - winStart), 'hex'));
        opts.onProgress?.(r.size);
      }
    })();
    // Both settle before the file closes; the first failure is the one reported.
    const [a, b] = await Promise.allSettled([smallDone, largeDone]);
    if (a.status === 'rejected') throw a.reason;
    if (b.status === 'rejected') throw b.reason;
  } finally {
    await pool?.close();
    await fh?.close();
  }
  return out;
}

/** One positional read into `buf` through a raw descriptor; the bytes read. */
function readAt(fd: number, buf: Buffer, pos: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, buf.length, pos, (err, n) => (err ? reject(err) : resolve(n))));
}

function hashThreads(requested: number | undefined): number {
  const env = Number(process.env.FERRY_HASH_THREADS);
  const n = requested ?? (Number.isInteger(env) && env > 0 ? env : Math.min(availableParallelism(), MAX_THREADS));
  return Math.max(1, Math.min(n, 16));
}

/**
 * sha256 of `size` bytes of `fd` from `offset`, reading into two alternating buffers so that
 * the next read (on libuv's thread pool) overlaps hashing the current one. Self-contained (it
 * is also the worker's code, as source text): builtins come from process.getBuiltinModule.
 * A short file rejects with code FERRY_TRUNCATED.
 */
async function hashFileRange(fd: number, offset: number, size: number, bufs: [Buffer, Buffer], onBytes: (n: number) => void): Promise<string> {
  const fs = process.getBuiltinModule('node:fs');
  const crypto = process.getBuiltinModule('node:crypto');
  const hash = crypto.createHash('sha256');
  const end = offset + size;
  const read = (buf: Buffer, at: number) =>
    new Promise<number>((resolve, reject) => fs.read(fd, buf, 0, Math.min(buf.length, end - at), at, (err, n) => (err ? reject(err) : resolve(n))));
  let pos = offset;
  let i = 0;
  let pending = pos < end ? read(bufs[0], pos) : undefined;
  while (pending) {
    const n = await pending;
    if (n === 0) throw Object.assign(new Error('truncated'), { code: 'FERRY_TRUNCATED' });
    const cur = bufs[i];
    pos += n;
    i ^= 1;
    pending = pos < end ? read(bufs[i], pos) : undefined;
    // The next read is in flight while this chunk is hashed; a failed read is awaited next turn.
    pending?.catch(() => {});
    hash.update(cur.subarray(0, n));
    onBytes(n);
  }
  return hash.digest('hex');
}

interface Job {
  id: number;
  offset: number;
  size: number;
}
type Reply = { id: number; bytes: number; hex?: string; error?: string; code?: string };

/** The worker's code: it hashes the ranges it is sent, one at a time, through the descriptor the caller holds open. */
function workerMain(hashRange: typeof hashFileRange, chunk: number, progressEvery: number): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const port = parentPort!;
  const fd = (workerData as { fd: number }).fd;
  const bufs: [Buffer, Buffer] = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
  // Load what hashing uses, then say so: the main thread may change V8 flags again (young-gc.ts).
  process.getBuiltinModule('node:fs');
  process.getBuiltinModule('node:crypto');
  port.postMessage({ op: 'ready' });
  let busy = false;
  let closing = false;
  const finish = () => port.close();
  port.on('message', (job: Job | null) => {
    if (job === null) {
      // After the range in hand, if any: its read must not meet a closed descriptor.
      closing = true;
      if (!busy) finish();
      return;
    }
    busy = true;
    let bytes = 0;
    hashRange(fd, job.offset, job.size, bufs, (n) => {
      bytes += n;
      if (bytes >= progressEvery) {
        port.postMessage({ id: job.id, bytes });
        bytes = 0;
      }
    })
      .then(
        (hex) => port.postMessage({ id: job.id, bytes, hex }),
        (err: NodeJS.ErrnoException) => port.postMessage({ id: job.id, bytes, error: String(err?.message ?? err), code: err?.code }),
      )
      .finally(() => {
        busy = false;
        if (closing) finish();
      });
  });
}

// Inline source (eval): the same code runs from the TypeScript sources and from the single-file build.
const WORKER_SOURCE = `(${workerMain.toString()})(${hashFileRange.toString()}, ${CHUNK}, ${PROGRESS_EVERY});`;

class HashWorkers {
  private readonly workers: Worker[];
  private readonly exited: Array<Promise<void>>;

  constructor(fd: number, count: number) {
    this.workers = Array.from({ length: count }, () => workerBooting(() => new Worker(WORKER_SOURCE, { eval: true, workerData: { fd } })));
    this.exited = this.workers.map((w) => new Promise<void>((resolve) => w.once('exit', () => resolve())));
  }

  /** Hash `ranges` across the workers, each taking the next range (in offset order) when free. */
  run(ranges: HashRange[], onProgress: ((n: number) => void) | undefined, done: (r: HashRange, hex: string) => void, truncated: (name: string) => Error): Promise<void> {
    return new Promise((resolve, reject) => {
      let next = 0;
      let active = 0;
      let failed = false;
      const fail = (err: Error) => {
        if (failed) return;
        failed = true;
        reject(err);
      };
      const feed = (w: Worker) => {
        if (failed) return;
        if (next >= ranges.length) {
          if (active === 0) resolve();
          return;
        }
        const id = next++;
        active++;
        w.postMessage({ id, offset: ranges[id].offset, size: ranges[id].size } satisfies Job);
      };
      for (const w of this.workers) {
        w.on('message', (m: Reply) => {
          if (m.bytes) onProgress?.(m.bytes);
          if (m.hex === undefined && m.error === undefined) return;
          active--;
          const r = ranges[m.id];
          if (m.error !== undefined) {
            fail(m.code === 'FERRY_TRUNCATED' ? truncated(r.name) : new FerryError('VERIFY', `${r.name}: ${m.error}`));
            return;
          }
          done(r, m.hex!);
          feed(w);
        });
        w.on('error', fail);
        w.on('exit', (code) => {
          if (code !== 0) fail(new Error(`hashing thread exited with code ${code}`));
        });
      }
      for (const w of this.workers) feed(w);
    });
  }

  /** Each worker closes its descriptor and exits once its current range (if any) is done. */
  async close(): Promise<void> {
    for (const w of this.workers) w.postMessage(null);
    await Promise.all(this.exited);
  }
}
