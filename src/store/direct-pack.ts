import { createHash } from 'node:crypto';
import { noteBytesPassed, noteItemDone } from './young-gc.js';
import { SyncBehind } from './sync-behind.js';
import { withPlace } from './temp-files.js';
import { constants } from 'node:fs';
import { lstat, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FerryError } from '../errors.js';
import { mapLimit } from '../net/concurrency.js';
import { RetryableError, withRetry, type RetryPolicy } from '../net/retry.js';
import { eachChunk, STOP } from '../net/chunks.js';
import type { BlobDescriptor, OpenAt } from './blob-store.js';
import { hashRanges } from './hash-pool.js';
import { HashThreads, type SlotWriter, type StreamHash } from './hash-threads.js';
import { describeBlob, type ReachableBlob } from './layout.js';
import { requireSpaceFor } from './free-space.js';
import { humanBytes } from '../ui/progress.js';

/**
 * Direct packing: a blob whose digest and size the lock names is not downloaded into the cache
 * during the fetch phase. Its ingest is only recorded here (how to open it, what to call it,
 * where its progress goes); once every index entry is known the bundle's layout is computed
 * and each recorded blob is streamed from the network straight into its place in
 * `<output>.partial` with positional writes — one write per byte. Small blobs and everything
 * read back before packing (manifests, charts, APT indexes) still go to the cache.
 */

/** Blobs smaller than this take the cache path: nothing to gain, and they may be read back. */
export const DEFER_MIN_BYTES = 1 << 20;
/** A blob this large is fetched as several ranged segments at once... */
export const SEGMENT_MIN_BYTES = 128 << 20;
/** ...of this size each. */
const SEGMENT_BYTES = 32 << 20;

export interface DeferredBlob {
  desc: BlobDescriptor;
  openAt: OpenAt;
  /** Names the artifact in errors: `registry/app:1 layer`. */
  label: string;
  retry?: RetryPolicy;
  onRetry?: (message: string) => void;
  /**
   * A small blob the download cache keeps too (an APT package under DEFER_MIN_BYTES): handed
   * its verified bytes once they are in the bundle.
   */
  keep?: (bytes: Buffer) => Promise<void>;
}

/**
 * Small blobs of a kind that has many (.debs) are deferred too, up to this many: fetched in the
 * pack among the big ones, written into the bundle and (through `keep`) into the cache, instead
 * of in a download phase of their own before the pack. Past it they take that phase, so the
 * tens of thousands of packages of a whole component do not each hold a record until the pack.
 */
export const SMALL_DEFER_MAX = 4096;

/** The blobs recorded during the fetch phase, by digest (the first recorder wins: layers are shared). */
export class DeferredBlobs {
  readonly blobs = new Map<string, DeferredBlob>();
  private smallRecords = 0;
  constructor(readonly minBytes = DEFER_MIN_BYTES) {}

  /** `small`: one of many small blobs (IngestOptions.small), deferred below minBytes while SMALL_DEFER_MAX allows. */
  accepts(desc: BlobDescriptor, small = false): boolean {
    return desc.size >= this.minBytes || (small && this.smallRecords < SMALL_DEFER_MAX);
  }
  add(blob: DeferredBlob): void {
    if (this.blobs.has(blob.desc.digest)) return;
    this.blobs.set(blob.desc.digest, blob);
    if (blob.desc.size < this.minBytes) this.smallRecords++;
  }
  get(digest: string): DeferredBlob | undefined {
    return this.blobs.get(digest);
  }
}

/** A contiguous run of bytes that are not blob data. */
export interface Frame {
  pos: number;
  bytes: Buffer;
}

/** Where every byte of the tar goes: frames (headers, metadata, padding, the end) and blob data. */
export interface BundleLayout {
  size: number;
  /** The frames in order, generated on each call (one per blob would be too many to hold). */
  frames: () => Iterable<Frame>;
  /** Each blob's data offset, in tar order. */
  blobs: Array<{ blob: ReachableBlob; pos: number }>;
}

/** Where a blob's bytes come from when writing directly. */
export type BlobOrigin = { from: 'store'; file: string; trusted: boolean; root: string } | { from: 'network'; deferred: DeferredBlob };

export interface DirectWriteOptions {
  output: string;
  layout: BundleLayout;
  origin: (blob: ReachableBlob) => BlobOrigin;
  concurrency: number;
  /** Bytes of a blob written (or found complete in the partial output: `reused`). */
  onBlobBytes?: (blob: ReachableBlob, bytes: number, reused: boolean) => void;
  onBlobDone?: (blob: ReachableBlob) => void;
  /** Ranged segments in flight per big blob (default 1 = none: on a 2-core machine they did not pay, and cost memory). */
  segments?: number;
  /** Blobs at least this large are fetched in segments (default SEGMENT_MIN_BYTES). */
  segmentMinBytes?: number;
  /** Hashing threads the caller started early (and closes); else this write starts and closes its own. */
  hashes?: HashThreads;
}

export const journalOf = (output: string) => `${output}.partial.json`;

/** Partial outputs being written now: what an interrupt (Ctrl-C, SIGTERM) leaves for the next run. */
const writing = new Set<string>();
export function partialsInProgress(): string[] {
  return [...writing];
}

/** The plan's identity: where each blob lies. Equal plans can reuse each other's partial output. */
function planKey(layout: BundleLayout): string {
  const h = createHash('sha256').update(`ferry direct pack v1 ${layout.size}\n`);
  for (const { blob, pos } of layout.blobs) h.update(`${blob.digest} ${blob.size} ${pos}\n`);
  return h.digest('hex');
}

/**
 * A journal beside the partial output: the plan's key on the first line, then one completed
 * blob digest per line, appended after the blob's bytes were written. A rerun with the same plan
 * re-hashes the listed blobs from the partial output (never trusted blindly) and fetches the rest.
 */
async function readJournal(output: string, key: string, size: number): Promise<Set<string> | undefined> {
  const text = await readFile(journalOf(output), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  const [head, ...lines] = text.split('\n');
  if (head !== `plan ${key}`) return undefined;
  // lstat: a link planted at the name is no partial output of ours (openPartial refuses it).
  const partialSize = await lstat(`${output}.partial`).then((s) => (s.isFile() ? s.size : -1), () => -1);
  if (partialSize !== size) return undefined;
  return new Set(lines.filter((l) => /^sha256:[a-f0-9]{64}$/.test(l)));
}

/**
 * Write the bundle straight into `<output>.partial`: frames first, then every blob into its
 * place, several at once, each hashed as it streams (from the network, or from the cache when
 * it is already there). Renamed to `output` only when every blob matched; a failed or killed
 * run leaves the partial output and its journal for the next run to continue from.
 */
export async function writeDirect(opts: DirectWriteOptions): Promise<{ size: number; reusedBytes: number }> {
  const { output, layout } = opts;
  const partial = `${output}.partial`;
  const key = planKey(layout);
  const completed = await readJournal(output, key, layout.size);
  // A bundle of model weights is tens of GB: a disk that cannot hold it is said before the first byte, not at ENOSPC halfway.
  await requireSpaceFor(partial, layout.size, `the bundle (${humanBytes(layout.size)} in all)`, 'Free space on the disk ferry writes to (where -o puts the bundle), or write it to another file system with -o; run again with room enough, a create resumes from any <bundle>.partial an earlier run left.');
  let fh: FileHandle;
  let journal: FileHandle;
  if (completed) {
    fh = await openPartial(partial, 'resume');
    journal = await openPartial(journalOf(output), 'resume', true).catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
  } else {
    // Whatever is at either name is an earlier plan's leftover (or planted there): its name is
    // removed (a link itself, never what it points to) and the files made new, never followed.
    await rm(journalOf(output), { force: true });
    await rm(partial, { force: true });
    fh = await openPartial(partial, 'new');
    await fh.truncate(layout.size);
    journal = await openPartial(journalOf(output), 'new', true).catch(async (err: unknown) => {
      await fh.close();
      throw err;
    });
    await journal.write(`plan ${key}\n`);
  }
  writing.add(partial);
  const out: Out = { fh, file: partial, behind: new SyncBehind(fh) };
  let reusedBytes = 0;
  const hashes = opts.hashes ?? new HashThreads();
  // Completed blobs are appended at once when no append is under way, else together with the
  // others completed meanwhile, in the next one (a whole APT component completes tens of
  // thousands of small blobs: one append each was three system calls per package, and every
  // blob waited for its own).
  let pending = '';
  let appending: Promise<void> | undefined;
  let journalError: unknown;
  const record = (digest: string) => {
    if (journalError) throw journalError;
    pending += `${digest}\n`;
    appending ??= (async () => {
      try {
        while (pending) {
          const text = pending;
          pending = '';
          await journal.appendFile(text);
        }
      } catch (err) {
        journalError = err;
      } finally {
        appending = undefined;
      }
    })();
  };
  const settleJournal = async () => {
    while (appending) await appending;
    if (journalError) throw journalError;
  };
  try {
    // Frames are cheap and small: written every time (the metadata may differ between runs).
    for (const f of layout.frames()) await writeFully(out, f.bytes, f.pos);

    // Blobs the earlier run completed: re-hashed from the partial output, several at once.
    const reused = new Set<string>();
    if (completed?.size) {
      const ranges = layout.blobs.filter((b) => completed.has(b.blob.digest)).map((b) => ({ name: b.blob.digest, offset: b.pos, size: b.blob.size }));
      const got = await hashRanges(partial, ranges, { keep: () => true });
      for (const r of ranges) {
        if (`sha256:${got.get(r.name)}` === r.name) reused.add(r.name);
      }
    }
    const todo = layout.blobs.filter((b) => !reused.has(b.blob.digest));
    for (const b of layout.blobs) {
      if (reused.has(b.blob.digest)) {
        reusedBytes += b.blob.size;
        // A small one the cache keeps too (its earlier run was killed before or after keeping
        // it): kept now from the partial output, whose range hashRanges just verified (the file
        // is this process's, under its pid lock; the store checks the digest again as it writes).
        const origin = opts.origin(b.blob);
        if (origin.from === 'network' && origin.deferred.keep) {
          const bytes = Buffer.alloc(b.blob.size);
          const { bytesRead } = await fh.read(bytes, 0, b.blob.size, b.pos);
          if (bytesRead === b.blob.size) await origin.deferred.keep(bytes);
        }
        opts.onBlobBytes?.(b.blob, b.blob.size, true);
        opts.onBlobDone?.(b.blob);
      }
    }
    // Biggest first: the long transfers start early and the small ones fill the gaps.
    todo.sort((a, b) => b.blob.size - a.blob.size || a.pos - b.pos);
    const segments = Math.max(1, opts.segments ?? 1);
    await mapLimit(todo, Math.max(1, opts.concurrency), async ({ blob, pos }) => {
      const origin = opts.origin(blob);
      const progress = (n: number) => opts.onBlobBytes?.(blob, n, false);
      const hash = origin.from === 'store' && origin.trusted ? undefined : hashes.stream();
      if (origin.from === 'store') await copyFromStore(out, blob, pos, origin, hash, progress);
      else if (segments > 1 && blob.size >= (opts.segmentMinBytes ?? SEGMENT_MIN_BYTES)) await fetchSegmented(out, partial, blob, pos, origin.deferred, segments, hash!, progress);
      else await fetchInto(out, blob, pos, origin.deferred, hash!, progress);
      record(blob.digest);
      noteItemDone();
      opts.onBlobDone?.(blob);
    });
    await settleJournal();
    await out.behind.sync();
  } catch (err) {
    await settleJournal().catch(() => undefined);
    await out.behind.settle();
    await fh.close().catch(() => undefined);
    await journal.close().catch(() => undefined);
    throw withResumeHint(err, partial);
  } finally {
    writing.delete(partial);
    if (!opts.hashes) await hashes.close();
  }
  await fh.close();
  await journal.close();
  await rename(partial, output);
  await rm(journalOf(output), { force: true });
  return { size: layout.size, reusedBytes };
}

/**
 * The partial output (or its journal, `append`ed to), opened without following a link: `new` creates
 * it (it must not exist: the caller removed the name), `resume` opens the one an earlier run left. Either
 * way it must be a regular file with no other name: a link or a hard link planted at the name
 * (another user's, in a shared directory) would have ferry write the bundle into a file elsewhere.
 */
async function openPartial(file: string, how: 'new' | 'resume', append = false): Promise<FileHandle> {
  const flags = constants.O_RDWR | constants.O_NOFOLLOW | (how === 'new' ? constants.O_CREAT | constants.O_EXCL : 0) | (append ? constants.O_APPEND : 0);
  let fh: FileHandle;
  try {
    fh = await open(file, flags, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'EEXIST') throw notOurPartial(file, code === 'ELOOP' ? 'a symbolic link' : 'made by something else after ferry removed the old one');
    throw err;
  }
  const st = await fh.stat();
  if (!st.isFile() || st.nlink !== 1) {
    await fh.close();
    throw notOurPartial(file, st.isFile() ? `a file with ${st.nlink} names (a hard link to another file)` : 'not a regular file');
  }
  return fh;
}

function notOurPartial(file: string, what: string): FerryError {
  return new FerryError('CONFLICT', `${file}: ${what}, not the partial output ferry writes; nothing was written through it`, {
    hint: 'Something else put it there (in a directory others can write, another user may have): remove it, or write the bundle into a directory only you can write (-o).',
  });
}

/** The partial output stays for the next run: the error says so. */
function withResumeHint(err: unknown, partial: string): unknown {
  if (!(err instanceof FerryError)) return err;
  const resume = `What was written is kept in ${partial}: the same command run again continues from there.`;
  return new FerryError(err.code, err.message, { hint: err.hint ? `${err.hint} ${resume}` : resume, details: err.details, cause: err.cause ?? err });
}

/** The partial output: its handle, and the flush that follows the writes. */
interface Out {
  fh: FileHandle;
  /** Its path, named in a write's error. */
  file: string;
  behind: SyncBehind;
}

async function writeFully(out: Out, bytes: Buffer, pos: number): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const { bytesWritten } = await out.fh.write(bytes, off, bytes.length - off, pos + off).catch((err: unknown) => {
      throw withPlace(err, out.file);
    });
    off += bytesWritten;
  }
  out.behind.wrote(bytes.length);
}

const CHUNK = 1 << 20;

/**
 * Reused pairs of CHUNK buffers: a fresh pair per blob would leave megabytes of garbage per
 * blob for the collector, and the process's peak memory follows that garbage.
 */
const spare: Buffer[] = [];

const takePair = (): [Buffer, Buffer] => [spare.pop() ?? Buffer.allocUnsafe(CHUNK), spare.pop() ?? Buffer.allocUnsafe(CHUNK)];
const givePair = (pair: Buffer[]) => {
  if (spare.length < 16) spare.push(...pair);
};

function mismatch(blob: ReachableBlob, label: string, actual: string): FerryError {
  return new FerryError('VERIFY', `${label} ${blob.digest}: digest mismatch (received content hashes to ${actual}) — ${describeBlob(blob.artifacts, blob.role, blob.digest)}`, {
    hint: 'The source served different bytes than its manifest names. The bundle was not written; if it persists, report it to the registry operator.',
  });
}

/** A cached blob copied into place, re-hashed unless this run verified it already. */
function copyFromStore(out: Out, blob: ReachableBlob, pos: number, origin: Extract<BlobOrigin, { from: 'store' }>, hash: StreamHash | undefined, progress: (n: number) => void): Promise<void> {
  return copyStoreBlob(origin.file, origin.root, blob, (chunk, offset) => writeFully(out, chunk, pos + offset), hash, progress);
}

/**
 * Copy a store blob through `write`, reading the next chunk while the previous one is written,
 * hashed on the way (`hash` undefined: trusted, only the size is checked). Memory stays flat
 * whatever the blob's size. The one copy loop of both the direct and the in-order packer.
 */
export async function copyStoreBlob(
  file: string,
  storeRoot: string,
  blob: ReachableBlob,
  write: (chunk: Buffer, offset: number) => Promise<void>,
  hash: StreamHash | undefined,
  progress?: (n: number) => void,
): Promise<void> {
  const src = await open(file, 'r');
  const buffers = takePair();
  let n = 0;
  let pending: Promise<void> = Promise.resolve();
  try {
    for (let i = 0; n < blob.size; i ^= 1) {
      const buf = buffers[i];
      const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, blob.size - n), n);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      await hash?.update(chunk);
      await pending;
      pending = write(chunk, n);
      // Awaited at the next chunk; a failed write (ENOSPC) must not be an unhandled rejection meanwhile.
      pending.catch(() => undefined);
      n += bytesRead;
      progress?.(bytesRead);
    }
    await pending;
  } finally {
    await pending.catch(() => undefined);
    givePair(buffers);
    await src.close();
  }
  const actual = hash ? 'sha256:' + (await hash.digest()) : blob.digest;
  if (n !== blob.size || actual !== blob.digest) {
    throw new FerryError('VERIFY', `${describeBlob(blob.artifacts, blob.role, blob.digest)}: damaged in the store ${storeRoot} (${n !== blob.size ? `size changed to ${n}` : `content hashes to ${actual}`})`, {
      hint: 'Delete that blob from the store and run `ferry bundle create` again to fetch it anew.',
    });
  }
}

/** Where received bytes go: copied in, handed over in CHUNK-sized pieces, written at their place. */
interface Sink {
  /** Copy `part` in; a promise while a full buffer is handed over (the body waits meanwhile). */
  put(part: Buffer): void | Promise<void>;
  /** Hand over what is buffered and wait until every byte is written (or throw the write's error). */
  finish(): Promise<void>;
}

/** `at`: the next byte of the blob to hand over; what is before it the hash has seen and will be written. */
interface Cursor {
  at: number;
}

/**
 * Through two reused CHUNK buffers: one fills while the other is hashed (posted to the hashing
 * thread, or on this one) and written (fresh buffers per write cost more in allocation and GC
 * than the copy). `at` moves once a write is done.
 */
function pairSink(out: Out, pos: number, cur: Cursor, hash: StreamHash | undefined, progress: (n: number) => void, copies?: Buffer[]): Sink {
  const bufs = takePair();
  let i = 0;
  let fill = 0;
  let writing: Promise<void> = Promise.resolve();
  const flush = async () => {
    await writing;
    if (!fill) return;
    const n = fill;
    const buf = bufs[i];
    i ^= 1;
    fill = 0;
    // Posted (copied) to the hashing thread in order before the write: the hash covers exactly the bytes written.
    await hash?.update(buf.subarray(0, n));
    copies?.push(Buffer.from(buf.subarray(0, n)));
    writing = writeFully(out, buf.subarray(0, n), pos + cur.at).then(() => {
      cur.at += n;
      progress(n);
    });
    // Awaited at the next flush, after more of the body arrived: a failed write (ENOSPC)
    // must not be an unhandled rejection meanwhile (it killed the process with a stack trace).
    writing.catch(() => undefined);
  };
  return {
    put(part) {
      let o = 0;
      const copy = (): void | Promise<void> => {
        while (o < part.length) {
          const n = Math.min(part.length - o, CHUNK - fill);
          part.copy(bufs[i], fill, o, o + n);
          fill += n;
          o += n;
          if (fill === CHUNK) return flush().then(copy);
        }
      };
      return copy();
    },
    async finish() {
      try {
        await flush();
        await writing;
      } finally {
        await writing.catch(() => undefined);
        givePair(bufs);
      }
    },
  };
}

/**
 * Straight into the hashing thread's ring: each slot, once full, is hashed and written by that
 * thread (StreamHash.writer). One copy on this thread, no write of its own. `at` moves as a slot
 * is handed over (the hash has it; its write follows, or `finish` throws).
 */
function slotSink(writer: SlotWriter, out: Out, pos: number, cur: Cursor, progress: (n: number) => void, copies?: Buffer[]): Sink {
  let slot: Buffer | undefined;
  let fill = 0;
  const written = (n: number) => {
    out.behind.wrote(n);
    progress(n);
  };
  const handOver = () => {
    const n = fill;
    copies?.push(Buffer.from(slot!.subarray(0, n)));
    writer.submit(slot!, n, pos + cur.at, written);
    cur.at += n;
    slot = undefined;
    fill = 0;
  };
  return {
    put(part) {
      let o = 0;
      const copy = (): void | Promise<void> => {
        while (o < part.length) {
          if (!slot) {
            return writer.slot().then((s) => {
              slot = s;
              return copy();
            });
          }
          const n = Math.min(part.length - o, slot.length - fill);
          part.copy(slot, fill, o, o + n);
          fill += n;
          o += n;
          if (fill === slot.length) handOver();
        }
      };
      return copy();
    },
    async finish() {
      if (slot && fill) handOver();
      else if (slot) writer.release(slot);
      slot = undefined;
      await writer.drain().catch((err: unknown) => {
        throw withPlace(err, out.file);
      });
    },
  };
}

/**
 * Stream `[start, end)` of a blob from the network into its place, resuming with Range from the
 * byte reached after a dropped connection; `hash` (when given) sees every byte in order.
 */
async function streamRange(out: Out, blob: ReachableBlob, pos: number, d: DeferredBlob, start: number, end: number, hash: StreamHash | undefined, progress: (n: number) => void, copies?: Buffer[]): Promise<void> {
  const cur: Cursor = { at: start };
  const label = `${d.label} ${blob.digest}`;
  const writer = hash?.writer?.(out.fh.fd);
  await withRetry(
    label,
    async () => {
      if (cur.at >= end) return;
      const body: Readable = await d.openAt(cur.at);
      const sink = writer ? slotSink(writer, out, pos, cur, progress, copies) : pairSink(out, pos, cur, hash, progress, copies);
      /** Where the next received byte belongs (ahead of `at` by what is buffered or being written). */
      let received = cur.at;
      try {
        await eachChunk(body, (chunk) => {
          const want = Math.min(chunk.length, end - received);
          if (want < chunk.length && end === blob.size) {
            throw new FerryError('VERIFY', `${label}: server sent more than the expected ${blob.size} bytes`, {
              hint: 'The source served different bytes than its manifest names. The bundle was not written; if it persists, report it to the registry operator.',
            });
          }
          const part = want < chunk.length ? chunk.subarray(0, want) : chunk;
          noteBytesPassed(chunk.length);
          received += part.length;
          // A segment stops at its end; the last one reads on, so a longer body is noticed.
          const stop = received >= end && end < blob.size ? STOP : undefined;
          const put = sink.put(part);
          return put ? put.then(() => stop) : stop;
        });
      } finally {
        // Every byte received is written before a retry continues from `at` (the hash has seen them).
        await sink.finish();
      }
      if (cur.at < end) throw new RetryableError(`connection ended after ${cur.at} of ${blob.size} bytes`);
    },
    d.retry,
    d.onRetry,
  );
}

/** One blob from the network into its place, hashed as it streams. */
async function fetchInto(out: Out, blob: ReachableBlob, pos: number, d: DeferredBlob, hash: StreamHash, progress: (n: number) => void): Promise<void> {
  const copies = d.keep ? [] : undefined;
  await streamRange(out, blob, pos, d, 0, blob.size, hash, progress, copies);
  const actual = 'sha256:' + (await hash.digest());
  if (actual !== blob.digest) throw mismatch(blob, d.label, actual);
  if (copies) await d.keep!(Buffer.concat(copies, blob.size));
}

/**
 * A big blob as ranged segments (at most SEGMENT_BYTES), `segments` of them in flight at once. The
 * hash runs in order behind them: each segment, once complete on disk, is read back (from the
 * page cache: it was just written) and hashed while the later ones are still arriving.
 */
async function fetchSegmented(out: Out, file: string, blob: ReachableBlob, pos: number, d: DeferredBlob, segments: number, hash: StreamHash, progress: (n: number) => void): Promise<void> {
  const bounds: Array<[number, number]> = [];
  const step = Math.min(SEGMENT_BYTES, Math.ceil(blob.size / segments / CHUNK) * CHUNK);
  for (let s = 0; s < blob.size; s += step) bounds.push([s, Math.min(blob.size, s + step)]);
  const arrived = bounds.map(() => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    return { promise, resolve, reject };
  });
  for (const a of arrived) a.promise.catch(() => undefined);
  const fetching = mapLimit(bounds, segments, ([s, e], i) =>
    streamRange(out, blob, pos, d, s, e, undefined, progress).then(
      () => arrived[i].resolve(),
      (err: unknown) => {
        arrived[i].reject(err);
        throw err;
      },
    ),
  );
  const hashing = (async () => {
    for (let i = 0; i < bounds.length; i++) {
      await arrived[i].promise;
      const [s, e] = bounds[i];
      if ((await hashRangeFrom(file, pos + s, e - s, hash)) !== e - s) throw new FerryError('VERIFY', `${d.label} ${blob.digest}: ${file} ended before the blob was complete`);
    }
  })();
  const [f, h] = await Promise.allSettled([fetching, hashing]);
  if (f.status === 'rejected') throw f.reason;
  if (h.status === 'rejected') throw h.reason;
  const actual = 'sha256:' + (await hash.digest());
  if (actual !== blob.digest) throw mismatch(blob, d.label, actual);
}

/** Feed `size` bytes of `file` from `offset` into `hash`; returns the bytes read. */
async function hashRangeFrom(file: string, offset: number, size: number, hash: StreamHash): Promise<number> {
  const fh = await open(file, 'r');
  const bufs = takePair();
  let n = 0;
  let next: Promise<{ bytesRead: number }> = Promise.resolve({ bytesRead: 0 });
  try {
    next = fh.read(bufs[0], 0, Math.min(CHUNK, size), offset);
    for (let i = 0; n < size; i ^= 1) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      const chunk = bufs[i].subarray(0, bytesRead);
      n += bytesRead;
      // The next read overlaps this hash.
      if (n < size) next = fh.read(bufs[i ^ 1], 0, Math.min(CHUNK, size - n), offset + n);
      await hash.update(chunk);
    }
  } finally {
    await next.catch(() => undefined);
    givePair(bufs);
    await fh.close();
  }
  return n;
}
