import { createHash, type Hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { workerBooting } from './young-gc.js';

/**
 * sha256 of streams on worker threads, so the thread that receives and writes the bytes does
 * not also hash them (on a 2-core machine that thread is the bottleneck of `bundle create`).
 * Each stream is a sequence of buffers hashed in the order given (one worker per stream, and a
 * worker's messages arrive in order); the bytes are copied into the worker's shared ring before
 * update() returns, so the caller may reuse its buffer at once, and update() waits for a free
 * slot while the worker is behind: memory stays flat.
 */
export interface StreamHash {
  update(bytes: Buffer): Promise<void> | void;
  digest(): Promise<string>;
  /**
   * Hash and write in one hand-over (worker threads only, else undefined): the caller fills
   * slots of the worker's ring and submits each; the worker hashes it (in order) and writes it
   * at its place in `fd` itself. The receiving thread then neither copies the bytes again nor
   * hands each write to libuv's pool: on a 2-core machine each hand-over woke a thread, and
   * those wake-ups, not the bytes, were most of the receiving thread's cost.
   */
  writer?(fd: number): SlotWriter;
}

/** Slots of a worker's ring, filled by the caller, hashed and written by the worker. */
export interface SlotWriter {
  /** A free slot to fill, SLOT_BYTES long (waits while the worker is behind). */
  slot(): Promise<Buffer>;
  /** Hash the slot's first `n` bytes after all submitted before, then write them at `position`; `written(n)` once they are in the file. */
  submit(slot: Buffer, n: number, position: number, written: (n: number) => void): void;
  /** Give back a slot taken and not submitted. */
  release(slot: Buffer): void;
  /** Every submitted slot written (and its slot free again); rejects with the first write error. */
  drain(): Promise<void>;
}

/** Each worker reads from a shared ring of SLOTS buffers of SLOT bytes: no copies to allocate, memory flat. */
export const SLOT_BYTES = 1 << 20;
const SLOT = SLOT_BYTES;
const SLOTS = 16;

type Msg = { op: 'update'; id: number; slot: number; n: number; fd?: number; pos?: number } | { op: 'digest'; id: number };
type WriteError = { code?: string; errno?: number; syscall?: string; message: string };
type Reply = { op: 'ready' } | { op: 'ack'; slot: number; error?: WriteError } | { op: 'digest'; id: number; hex: string };

function workerMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const crypto = process.getBuiltinModule('node:crypto');
  const fs = process.getBuiltinModule('node:fs');
  const port = parentPort!;
  const ring = new Uint8Array((workerData as { ring: SharedArrayBuffer }).ring);
  const slot = (workerData as { slot: number }).slot;
  const hashes = new Map<number, ReturnType<typeof crypto.createHash>>();
  // Loaded what it needs: the main thread may change V8 flags again (young-gc.ts, workerBooting).
  port.postMessage({ op: 'ready' });
  port.on('message', (m: Msg) => {
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = crypto.createHash('sha256')));
    if (m.op === 'update') {
      const bytes = ring.subarray(m.slot * slot, m.slot * slot + m.n);
      h.update(bytes);
      let error: WriteError | undefined;
      if (m.fd !== undefined) {
        try {
          for (let off = 0; off < m.n; ) off += fs.writeSync(m.fd, bytes, off, m.n - off, m.pos! + off);
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          error = { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message };
        }
      }
      port.postMessage({ op: 'ack', slot: m.slot, error });
    } else {
      hashes.delete(m.id);
      port.postMessage({ op: 'digest', id: m.id, hex: h.digest('hex') });
    }
  });
}

const WORKER_SOURCE = `(${workerMain.toString()})();`;

interface Lane {
  worker: Worker;
  ring: Uint8Array;
  free: number[];
  /** A submitted slot's writer, told when the worker acknowledged it. */
  acks: Map<number, (error?: WriteError) => void>;
  waiters: Array<() => void>;
  streams: number;
  /** Settled once the worker said it booted (or exited). */
  booted: Promise<void>;
  /** Set when the worker died: every stream on it fails instead of waiting for ever. */
  failed?: Error;
}

export class HashThreads {
  /** Started on the first stream: a run that hashes nothing (all cached, all on the target) starts no thread. */
  private lanes?: Lane[];
  private readonly digests = new Map<number, { lane: Lane; resolve: (hex: string) => void; reject: (err: Error) => void }>();
  private nextId = 0;
  private closing = false;

  constructor(private readonly threads = defaultThreads()) {}

  private started(): Lane[] {
    this.lanes ??= Array.from({ length: Math.max(0, this.threads) }, () => {
      const ring = new SharedArrayBuffer(SLOT * SLOTS);
      const worker = workerBooting(() => new Worker(WORKER_SOURCE, { eval: true, workerData: { ring, slot: SLOT } }));
      const lane: Lane = {
        worker,
        ring: new Uint8Array(ring),
        free: Array.from({ length: SLOTS }, (_, i) => i),
        acks: new Map(),
        waiters: [],
        streams: 0,
        booted: new Promise<void>((resolve) => {
          worker.on('message', (r: Reply) => r.op === 'ready' && resolve());
          worker.once('exit', () => resolve());
        }),
      };
      lane.worker.on('message', (r: Reply) => {
        if (r.op === 'ready') return;
        if (r.op === 'ack') {
          const ack = lane.acks.get(r.slot);
          lane.acks.delete(r.slot);
          lane.free.push(r.slot);
          lane.waiters.shift()?.();
          ack?.(r.error);
        } else {
          this.digests.get(r.id)?.resolve(r.hex);
          this.digests.delete(r.id);
        }
      });
      lane.worker.on('error', (err: unknown) => this.fail(lane, err instanceof Error ? err : new Error(String(err))));
      lane.worker.on('exit', (code) => {
        if (!this.closing) this.fail(lane, new Error(`hashing thread exited with code ${code}`));
      });
      return lane;
    });
    return this.lanes;
  }

  /**
   * Start the threads now rather than on the first stream: a thread takes tens of ms to boot,
   * which a command can overlap with work that does not hash yet (resolving, fetching
   * metadata) on an otherwise idle core.
   */
  warm(): this {
    if (this.threads > 0) this.started();
    return this;
  }

  /**
   * Every started thread booted (or gone). While one boots, V8's start-up flags are back
   * (young-gc.ts workerBooting), the young generation's cap among them: a caller about to build
   * much that lives on (a lock of 60 000 packages parsed and walked) waits for this first, or
   * the young generation grows to 32–64 MB under it and stays resident for the rest of the run.
   */
  async ready(): Promise<void> {
    await Promise.all((this.lanes ?? []).map((l) => l.booted));
  }

  /** A worker died (out of memory, say): its waiting and future streams fail with the reason. */
  private fail(lane: Lane, err: Error): void {
    lane.failed ??= err;
    for (const wake of lane.waiters.splice(0)) wake();
    const acks = [...lane.acks.values()];
    lane.acks.clear();
    for (const ack of acks) ack({ message: lane.failed.message });
    for (const [id, d] of this.digests) {
      if (d.lane !== lane) continue;
      this.digests.delete(id);
      d.reject(lane.failed);
    }
  }

  /** A new stream: on the least busy worker, or on this thread when there are none. */
  stream(): StreamHash {
    if (this.threads <= 0) return mainThreadHash(createHash('sha256'));
    const lane = this.started().reduce((a, b) => (b.streams < a.streams ? b : a));
    lane.streams++;
    const id = this.nextId++;
    const slotOf = async () => {
      for (;;) {
        if (lane.failed) throw lane.failed;
        if (lane.free.length) return lane.free.pop()!;
        await new Promise<void>((resolve) => lane.waiters.push(resolve));
      }
    };
    return {
      // Copied into a free slot of the ring (waiting for one while the worker is behind).
      update: async (bytes) => {
        for (let off = 0; off < bytes.length; off += SLOT) {
          const n = Math.min(SLOT, bytes.length - off);
          const slot = await slotOf();
          lane.ring.set(bytes.subarray(off, off + n), slot * SLOT);
          lane.worker.postMessage({ op: 'update', id, slot, n } satisfies Msg);
        }
      },
      writer: (fd) => slotWriter(lane, id, fd, slotOf),
      digest: () =>
        new Promise<string>((resolve, reject) => {
          lane.streams--;
          if (lane.failed) return reject(lane.failed);
          this.digests.set(id, { lane, resolve, reject });
          lane.worker.postMessage({ op: 'digest', id } satisfies Msg);
        }),
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all((this.lanes ?? []).map((l) => l.worker.terminate()));
  }
}

function slotWriter(lane: Lane, id: number, fd: number, slotOf: () => Promise<number>): SlotWriter {
  let outstanding = 0;
  let failure: Error | undefined;
  let drained: (() => void) | undefined;
  const indexOf = (buf: Buffer) => {
    const i = buf.byteOffset / SLOT;
    if (buf.buffer !== lane.ring.buffer || !Number.isInteger(i) || i < 0 || i >= SLOTS) throw new Error('not a slot of this ring');
    return i;
  };
  return {
    slot: async () => {
      if (failure) throw failure;
      const i = await slotOf();
      return Buffer.from(lane.ring.buffer, i * SLOT, SLOT);
    },
    submit: (buf, n, pos, written) => {
      const slot = indexOf(buf);
      outstanding++;
      lane.acks.set(slot, (error) => {
        outstanding--;
        if (error) failure ??= Object.assign(new Error(error.message), { code: error.code, errno: error.errno, syscall: error.syscall });
        else written(n);
        if (!outstanding) drained?.();
      });
      lane.worker.postMessage({ op: 'update', id, slot, n, fd, pos } satisfies Msg);
    },
    release: (buf) => {
      lane.free.push(indexOf(buf));
      lane.waiters.shift()?.();
    },
    drain: async () => {
      if (outstanding) await new Promise<void>((resolve) => (drained = resolve));
      drained = undefined;
      if (failure) throw failure;
    },
  };
}

export function mainThreadHash(hash: Hash): StreamHash {
  return {
    update: (bytes) => void hash.update(bytes),
    digest: async () => hash.digest('hex'),
  };
}

/** Worker threads for hashing: one per CPU beyond the first, at most 2; FERRY_HASH_THREADS overrides (0 = this thread). */
function defaultThreads(): number {
  const env = process.env.FERRY_HASH_THREADS;
  if (env !== undefined && /^\d+$/.test(env)) return Math.min(Number(env), 8);
  return Math.min(2, Math.max(0, availableParallelism() - 1));
}
