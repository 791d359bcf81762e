import { createHash, randomBytes } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { HashThreads } from '../../../src/store/hash-threads.js';

const sha = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('HashThreads', () => {
  it('hashes interleaved streams on worker threads as one thread would, buffers reusable at once', async () => {
    const threads = new HashThreads(2);
    try {
      const parts = Array.from({ length: 3 }, () => Array.from({ length: 5 }, () => randomBytes(300_000 + Math.floor(Math.random() * 1000))));
      const streams = parts.map(() => threads.stream());
      const scratch = Buffer.alloc(400_000);
      for (let i = 0; i < 5; i++) {
        for (let s = 0; s < streams.length; s++) {
          // The same scratch buffer every time: update() has copied it before it returns.
          parts[s][i].copy(scratch);
          await streams[s].update(scratch.subarray(0, parts[s][i].length));
        }
      }
      const got = await Promise.all(streams.map((s) => s.digest()));
      expect(got).toEqual(parts.map((p) => sha(...p)));
    } finally {
      await threads.close();
    }
  });

  it('a hashing thread that dies fails its streams instead of leaving them waiting', async () => {
    const threads = new HashThreads(1);
    try {
      const s = threads.stream();
      await s.update(randomBytes(1000));
      const lane = (threads as unknown as { lanes: Array<{ worker: Worker }> }).lanes[0];
      await lane.worker.terminate();
      await expect(s.digest()).rejects.toThrow(/hashing thread exited/);
      const next = threads.stream();
      await expect((async () => {
        // A full ring's worth and more: without the failure this would wait for acks for ever.
        for (let i = 0; i < 40; i++) await next.update(Buffer.alloc(256 << 10));
      })()).rejects.toThrow(/hashing thread exited/);
    } finally {
      await threads.close();
    }
  });
});
