import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { FerryError } from '../../../src/errors.js';
import { hashRanges, type HashRange } from '../../../src/store/hash-pool.js';

const MiB = 1 << 20;

async function fixture() {
  const data = randomBytes(12 * MiB + 777);
  const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'ferry-hash-pool-')), 'data');
  await writeFile(file, data);
  // Small and large ranges, out of order, one empty, one exactly a window, one at the very end.
  const ranges: HashRange[] = [
    { name: 'large-a', offset: 100, size: 3 * MiB + 5 },
    { name: 'small-a', offset: 3 * MiB + 200, size: 1000 },
    { name: 'empty', offset: 3 * MiB + 1200, size: 0 },
    { name: 'window', offset: 3 * MiB + 1300, size: MiB },
    { name: 'large-c', offset: 7 * MiB, size: 5 * MiB + 777 },
    { name: 'large-b', offset: 4 * MiB + 2000, size: 2 * MiB + 123 },
    { name: 'small-b', offset: 6 * MiB + 3000, size: 512 },
  ];
  const expected = new Map(ranges.map((r) => [r.name, createHash('sha256').update(data.subarray(r.offset, r.offset + r.size)).digest('hex')]));
  return { file, data, ranges, expected };
}

describe('hashRanges', () => {
  for (const threads of [1, 2, 3]) {
    it(`hashes every range right with ${threads} thread(s) and reports every byte`, async () => {
      const { file, ranges, expected } = await fixture();
      let progress = 0;
      const got = await hashRanges(file, ranges, { threads, keep: () => true, onProgress: (n) => (progress += n) });
      expect(new Map([...got].sort())).toEqual(new Map([...expected].sort()));
      expect(progress).toBe(ranges.reduce((s, r) => s + r.size, 0));
    });
  }

  it('keeps only the ranges asked for', async () => {
    const { file, ranges, expected } = await fixture();
    const got = await hashRanges(file, ranges, { threads: 2, keep: (name, hex) => name.startsWith('large') && hex === expected.get(name) });
    expect([...got.keys()].sort()).toEqual(['large-a', 'large-b', 'large-c']);
  });

  for (const threads of [1, 2]) {
    it(`names the range a short file cuts off (${threads} thread(s))`, async () => {
      const { file, data, ranges } = await fixture();
      const beyond = [...ranges, { name: 'past-the-end', offset: data.length - MiB, size: 3 * MiB }, { name: 'large-d', offset: 0, size: 2 * MiB }];
      const err = await hashRanges(file, beyond, { threads, keep: () => true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('VERIFY');
      expect((err as FerryError).message).toBe(`${file}: ended before past-the-end was complete (truncated?)`);
    });
  }

  it('names a small range a short file cuts off', async () => {
    const { file, data } = await fixture();
    const err = await hashRanges(file, [{ name: 'tail', offset: data.length - 10, size: 20 }], { keep: () => true }).catch((e: unknown) => e);
    expect((err as FerryError).message).toBe(`${file}: ended before tail was complete (truncated?)`);
  });

  it('reports an unreadable file', async () => {
    await expect(hashRanges('/nonexistent/ferry-hash-pool', [{ name: 'x', offset: 0, size: 1 }], { keep: () => true })).rejects.toThrow(/ENOENT/);
  });
});

describe('hashRanges through a descriptor the caller holds', () => {
  for (const threads of [1, 3]) {
    it(`hashes the file that was opened, not the one that took its name since (${threads} thread${threads > 1 ? 's' : ''})`, async () => {
      const { file, ranges, expected } = await fixture();
      const fh = await open(file, 'r');
      try {
        // Another file under the same name after the bundle was opened (and its index read).
        await writeFile(file + '.other', randomBytes(12 * MiB + 777));
        await rename(file + '.other', file);
        const got = await hashRanges({ path: file, fd: fh.fd }, ranges, { threads, keep: () => true });
        expect(got).toEqual(expected);
        // The descriptor is still the caller's: usable after, closed by the caller.
        const { bytesRead } = await fh.read(Buffer.alloc(16), 0, 16, 0);
        expect(bytesRead).toBe(16);
      } finally {
        await fh.close();
      }
    });
  }
});
