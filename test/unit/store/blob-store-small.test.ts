import { createHash } from 'node:crypto';
import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobStore, SMALL_BLOB_BYTES } from '../../../src/store/blob-store.js';

const policy = { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryAfterMs: 1000 };
const content = Buffer.from('a'.repeat(3000) + 'b'.repeat(3000));
const desc = { digest: 'sha256:' + createHash('sha256').update(content).digest('hex'), size: content.length };

async function store() {
  const s = new BlobStore(await mkdtemp(path.join(os.tmpdir(), 'ferry-store-small-')));
  await s.init();
  return s;
}
const leftovers = async (s: BlobStore) => (await readdir(path.dirname(s.blobPath(desc.digest))).catch(() => [])).filter((n) => !/^[a-f0-9]{64}$/.test(n));

describe('BlobStore.ingest of a small blob (small: true)', () => {
  it('keeps the verified bytes and no lock or partial file', async () => {
    const s = await store();
    const offsets: number[] = [];
    let progress = 0;
    await s.ingest(desc, async (o) => (offsets.push(o), Readable.from([content.subarray(0, 100), content.subarray(100)])), { label: 't', small: true, retry: policy, onProgress: (n) => (progress += n) });
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
    expect(offsets).toEqual([0]);
    expect(progress).toBe(content.length);
    expect(s.verifiedThisRun.has(desc.digest)).toBe(true);
    expect(await leftovers(s)).toEqual([]);
  });

  it('continues from the byte reached after a dropped connection (kept in memory, as the resumable path does on disk)', async () => {
    const s = await store();
    const offsets: number[] = [];
    await s.ingest(
      desc,
      async (o) => {
        offsets.push(o);
        if (offsets.length > 1) return Readable.from([content.subarray(o)]);
        return Readable.from((async function* () {
          yield content.subarray(0, 1000);
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        })());
      },
      { label: 't', small: true, retry: policy },
    );
    expect(offsets).toEqual([0, 1000]);
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
  });

  it('refuses wrong bytes and too many bytes, keeping nothing', async () => {
    const s = await store();
    const bad = Buffer.from(content);
    bad[10] ^= 1;
    await expect(s.ingest(desc, async () => Readable.from([bad]), { label: 't', small: true, retry: policy })).rejects.toMatchObject({ code: 'VERIFY', message: expect.stringContaining('digest mismatch') });
    await expect(s.ingest(desc, async () => Readable.from([content, Buffer.from('x')]), { label: 't', small: true, retry: policy })).rejects.toMatchObject({ code: 'VERIFY', message: expect.stringContaining('more than the expected') });
    expect(await s.has(desc)).toBe(false);
    expect(await leftovers(s)).toEqual([]);
  });

  it('takes the resumable path for a blob over the small size', async () => {
    const big = Buffer.alloc(SMALL_BLOB_BYTES + 1, 7);
    const d = { digest: 'sha256:' + createHash('sha256').update(big).digest('hex'), size: big.length };
    const s = await store();
    const offsets: number[] = [];
    await s.ingest(
      d,
      async (o) => {
        offsets.push(o);
        if (offsets.length > 1) return Readable.from([big.subarray(o)]);
        return Readable.from((async function* () {
          yield big.subarray(0, 4096);
          throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
        })());
      },
      { label: 't', small: true, retry: policy },
    );
    expect(offsets).toEqual([0, 4096]);
    expect((await s.readBytes(d.digest)).equals(big)).toBe(true);
  });
});
