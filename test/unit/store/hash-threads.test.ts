import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { HashThreads, SLOT_BYTES } from '../../../src/store/hash-threads.js';
import { startFlagsOpen } from '../../../src/net/v8-flags.js';

const sha = (...parts: Buffer[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};

describe('HashThreads', () => {
  it('ready() settles once every warmed thread booted: V8\'s start-up flags (no young-generation cap) are no longer in force', async () => {
    const threads = new HashThreads(2).warm();
    try {
      // While the threads boot the start-up flags are back (young-gc.ts workerBooting).
      expect(startFlagsOpen()).toBe(true);
      await threads.ready();
      expect(startFlagsOpen()).toBe(false);
      // Threads never started: nothing to wait for.
      await new HashThreads(2).ready();
    } finally {
      await threads.close();
    }
  });

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

  it('a slot writer hashes and writes each slot at its place, several streams interleaved, and drains before the file is closed', async () => {
    const threads = new HashThreads(2);
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-slots-'));
    try {
      const file = path.join(dir, 'out');
      const blobs = [randomBytes(2 * SLOT_BYTES + 12_345), randomBytes(777), randomBytes(SLOT_BYTES)];
      const offsets = [100, 100 + blobs[0].length + 50, 100 + blobs[0].length + 50 + blobs[1].length + 7];
      const fh = await open(file, 'w');
      await fh.truncate(offsets[2] + blobs[2].length);
      const written = [0, 0, 0];
      const streams = blobs.map(() => threads.stream());
      const writers = streams.map((s) => s.writer!(fh.fd));
      // Filled in pieces that do not line up with slots, the streams taking turns.
      const at = [0, 0, 0];
      let slot: Array<Buffer | undefined> = [undefined, undefined, undefined];
      const fill = [0, 0, 0];
      while (at.some((a, i) => a + fill[i] < blobs[i].length)) {
        for (let i = 0; i < blobs.length; i++) {
          const from = at[i] + fill[i];
          if (from >= blobs[i].length) continue;
          slot[i] ??= await writers[i].slot();
          const n = Math.min(100_000, blobs[i].length - from, slot[i]!.length - fill[i]);
          blobs[i].copy(slot[i]!, fill[i], from, from + n);
          fill[i] += n;
          if (fill[i] === slot[i]!.length || at[i] + fill[i] === blobs[i].length) {
            writers[i].submit(slot[i]!, fill[i], offsets[i] + at[i], (k) => (written[i] += k));
            at[i] += fill[i];
            fill[i] = 0;
            slot[i] = undefined;
          }
        }
      }
      await Promise.all(writers.map((w) => w.drain()));
      await fh.close();
      expect(written).toEqual(blobs.map((b) => b.length));
      expect(await Promise.all(streams.map((s) => s.digest()))).toEqual(blobs.map((b) => sha(b)));
      const out = await readFile(file);
      blobs.forEach((b, i) => expect(out.subarray(offsets[i], offsets[i] + b.length).equals(b)).toBe(true));
      expect(out.subarray(0, 100).equals(Buffer.alloc(100))).toBe(true);
    } finally {
      await threads.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a write the hashing thread cannot make is the writer\'s error, with the system\'s code; its slots come back', async () => {
    const threads = new HashThreads(1);
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-slots-'));
    try {
      const file = path.join(dir, 'ro');
      await writeFile(file, 'x');
      const fh = await open(file, 'r');
      const w = threads.stream().writer!(fh.fd);
      for (let i = 0; i < 3; i++) w.submit(await w.slot(), 1000, i * 1000, () => undefined);
      await expect(w.drain()).rejects.toMatchObject({ code: 'EBADF', syscall: 'write' });
      await fh.close();
      // Every slot is free again: a full ring's worth can be taken and given back.
      const other = threads.stream().writer!(0);
      const taken = await Promise.all(Array.from({ length: 16 }, () => other.slot()));
      for (const t of taken) other.release(t);
    } finally {
      await threads.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
