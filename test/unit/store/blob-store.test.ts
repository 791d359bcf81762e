import { createHash } from 'node:crypto';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BlobStore } from '../../../src/store/blob-store.js';

const policy = { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryAfterMs: 1000 };
const content = Buffer.from('x'.repeat(5000) + 'y'.repeat(5000));
const desc = { digest: 'sha256:' + createHash('sha256').update(content).digest('hex'), size: content.length };

async function store() {
  const s = new BlobStore(await mkdtemp(path.join(os.tmpdir(), 'ferry-store-')));
  await s.init();
  return s;
}

describe('BlobStore.ingest', () => {
  it('resumes from where a dropped connection left off', async () => {
    const s = await store();
    const offsets: number[] = [];
    await s.ingest(
      desc,
      async (offset) => {
        offsets.push(offset);
        if (offsets.length === 1) {
          // First attempt: send 3000 bytes, then fail like a reset connection.
          return Readable.from((async function* () {
            yield content.subarray(0, 3000);
            await new Promise((r) => setTimeout(r, 20));
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          })());
        }
        return Readable.from([content.subarray(offset)]);
      },
      { label: 'test', retry: policy },
    );
    expect(offsets).toEqual([0, 3000]);
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
  });

  it('continues a .partial left by an interrupted earlier run', async () => {
    const s = await store();
    await writeFile(`${s.blobPath(desc.digest)}.partial`, content.subarray(0, 4096));
    const offsets: number[] = [];
    await s.ingest(desc, async (o) => (offsets.push(o), Readable.from([content.subarray(o)])), { label: 'test', retry: policy });
    expect(offsets).toEqual([4096]);
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
  });

  it('refuses wrong bytes at once, keeps nothing under the final name, and does not retry', async () => {
    const s = await store();
    let calls = 0;
    const bad = Buffer.from(content);
    bad[100] ^= 1;
    await expect(s.ingest(desc, async () => (calls++, Readable.from([bad])), { label: 'docker.io/library/x:1 layer', retry: policy })).rejects.toMatchObject({
      code: 'VERIFY',
      message: expect.stringContaining(`docker.io/library/x:1 layer ${desc.digest}: digest mismatch`),
    });
    expect(calls).toBe(1);
    expect(await readdir(path.join(s.root, 'blobs', 'sha256'))).toEqual([]);
  });

  it('downloads a blob shared by concurrent fetches once', async () => {
    const s = await store();
    let calls = 0;
    const open = async () => (calls++, Readable.from([content]));
    await Promise.all([1, 2, 3].map(() => s.ingest(desc, open, { label: 't', retry: policy })));
    expect(calls).toBe(1);
  });

  it('waits while another live process holds the blob, and takes over a lock left by a dead one', async () => {
    const s = await store();
    const { spawn } = await import('node:child_process');
    const holder = spawn('sleep', ['0.6']);
    await writeFile(`${s.blobPath(desc.digest)}.lock`, String(holder.pid));
    const exited = new Promise((r) => holder.once('exit', r));
    let openedAfterExit = false;
    let holderGone = false;
    void exited.then(() => (holderGone = true));
    await s.ingest(desc, async (o) => ((openedAfterExit = holderGone), Readable.from([content.subarray(o)])), { label: 't', retry: policy });
    expect(openedAfterExit).toBe(true);
    expect((await s.readBytes(desc.digest)).equals(content)).toBe(true);
    expect(await readdir(path.join(s.root, 'blobs', 'sha256'))).toEqual([desc.digest.slice(7)]);
  });

  it('stores the same small blob written twice at once (an image named by tag and by digest)', async () => {
    const s = await store();
    const bytes = Buffer.from('{"schemaVersion":2}');
    const got = await Promise.all([s.putBytes(bytes), s.putBytes(bytes), s.putBytes(bytes)]);
    expect(new Set(got.map((g) => g.digest)).size).toBe(1);
    expect(await readdir(path.join(s.root, 'blobs', 'sha256'))).toEqual([got[0].digest.slice(7)]);
  });
});
