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
}

/** Each worker reads from a shared ring of SLOTS buffers of SLOT bytes: no copies to allocate, memory flat. */
const SLOT = 256 << 10;
const SLOTS = 16;

type Msg = { op: 'update'; id: number; slot: number; n: number } | { op: 'digest'; id: number };
type Reply = { op: 'ready' } | { op: 'ack'; slot: number } | { op: 'digest'; id: number; hex: string };

function workerMain(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const crypto = process.getBuiltinModule('node:crypto');
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
      h.update(ring.subarray(m.slot * slot, m.slot * slot + m.n));
      port.postMessage({ op: 'ack', slot: m.slot });
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
  waiters: Array<() => void>;
  streams: number;
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
      const lane: Lane = {
        worker: workerBooting(new Worker(WORKER_SOURCE, { eval: true, workerData: { ring, slot: SLOT } })),
        ring: new Uint8Array(ring),
        free: Array.from({ length: SLOTS }, (_, i) => i),
        waiters: [],
        streams: 0,
      };
      lane.worker.on('message', (r: Reply) => {
        if (r.op === 'ready') return;
        if (r.op === 'ack') {
          lane.free.push(r.slot);
          lane.waiters.shift()?.();
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

  /** A worker died (out of memory, say): its waiting and future streams fail with the reason. */
  private fail(lane: Lane, err: Error): void {
    lane.failed ??= err;
    for (const wake of lane.waiters.splice(0)) wake();
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
