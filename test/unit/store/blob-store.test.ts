import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { writeVerified } from '../../../src/store/verified-write.js';
import { BlobStore, SMALL_BLOB_BYTES } from '../../../src/store/blob-store.js';
import { LayoutDir } from '../../../src/store/layout.js';
import { processAlive, sweepStaleTemps, tempPathFor } from '../../../src/store/temp-files.js';

const policy = { retries: 3, minTimeoutMs: 1, maxTimeoutMs: 5, maxRetryAfterMs: 1000 };
// Over SMALL_BLOB_BYTES: the resumable path (lock file, `.partial`); smaller ones are fetched whole.
const content = Buffer.from('x'.repeat(SMALL_BLOB_BYTES / 2 + 5000) + 'y'.repeat(SMALL_BLOB_BYTES / 2 + 5000));
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

  it('a blob of at most SMALL_BLOB_BYTES (an image config) is fetched whole and written once: no lock file, no .partial; a dropped connection continues from the byte reached', async () => {
    const s = await store();
    const small = Buffer.from('z'.repeat(SMALL_BLOB_BYTES));
    const d = { digest: 'sha256:' + createHash('sha256').update(small).digest('hex'), size: small.length };
    const offsets: number[] = [];
    const seen = new Set<string>();
    await s.ingest(
      d,
      async (offset) => {
        offsets.push(offset);
        for (const f of await readdir(path.join(s.root, 'blobs', 'sha256'))) seen.add(f);
        if (offsets.length === 1) {
          return Readable.from((async function* () {
            yield small.subarray(0, 3000);
            throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
          })());
        }
        return Readable.from([small.subarray(offset)]);
      },
      { label: 'test', retry: policy },
    );
    expect(offsets).toEqual([0, 3000]);
    expect([...seen]).toEqual([]);
    expect(await readdir(path.join(s.root, 'blobs', 'sha256'))).toEqual([d.digest.slice(7)]);
    expect((await s.readBytes(d.digest)).equals(small)).toBe(true);
  });

  it('stores the same small blob written twice at once (an image named by tag and by digest)', async () => {
    const s = await store();
    const bytes = Buffer.from('{"schemaVersion":2}');
    const got = await Promise.all([s.putBytes(bytes), s.putBytes(bytes), s.putBytes(bytes)]);
    expect(new Set(got.map((g) => g.digest)).size).toBe(1);
    expect(await readdir(path.join(s.root, 'blobs', 'sha256'))).toEqual([got[0].digest.slice(7)]);
  });
});

/** The pid of a process that has exited (and so cannot hold a temp file any more). */
function deadPid(): number {
  for (;;) {
    const pid = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
    if (!processAlive(Number(pid))) return Number(pid);
  }
}

describe('stale temp files of killed runs', () => {
  const hex = 'ab'.repeat(32);

  /** What a run killed mid-write leaves in a directory, next to files that must stay. */
  async function litter(dir: string, base: string) {
    const dead = deadPid();
    await mkdir(dir, { recursive: true });
    const names = {
      dead: [`${base}.ferry-${dead}-0a1b2c3d.tmp`, `${base}.ferry-${dead}.tmp`],
      legacy: [`${hex}.${dead}.0a1b2c3d.tmp`, `index.json.${dead}.0a1b2c3d.tmp`],
      // Same pid as this process, but not created by it: an earlier run in a container that reused the pid.
      reusedPid: [`${base}.ferry-${process.pid}-99999999.tmp`],
      // A concurrent live process (our parent) is still writing this one.
      live: [`${base}.ferry-${process.ppid}-0a1b2c3d.tmp`],
      keep: [...new Set([hex, `${hex}.partial`, base, `release.${dead}.partial`, `notes.${dead}.tmp`])],
    };
    for (const n of Object.values(names).flat()) await writeFile(path.join(dir, n), 'x'.repeat(1000));
    return names;
  }

  it('a directory target sweeps the temp files of dead processes when opened, and keeps everything else', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-layout-'));
    const blobs = path.join(root, 'blobs', 'sha256');
    const names = await litter(blobs, hex);
    await new LayoutDir(root).init();
    expect((await readdir(blobs)).sort()).toEqual([...names.live, ...names.keep].sort());
  });

  it('the blob store sweeps its blob directory when opened', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ferry-store-'));
    const names = await litter(path.join(root, 'blobs', 'sha256'), hex);
    await new BlobStore(root).init();
    expect((await readdir(path.join(root, 'blobs', 'sha256'))).sort()).toEqual([...names.live, ...names.keep].sort());
  });

  it('writing a file again removes the temp files a killed write of it left', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-files-'));
    const dest = path.join(dir, 'pool', 'big.iso');
    const names = await litter(path.dirname(dest), 'big.iso');
    await writeVerified(Readable.from([content]), dest, desc.digest, 'big.iso');
    expect((await readdir(path.dirname(dest))).sort()).toEqual([...names.live, ...names.keep].sort());
  });

  it('never removes a temp file this process is writing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-own-'));
    const tmp = tempPathFor(path.join(dir, 'f'));
    await writeFile(tmp, 'in progress');
    expect(await sweepStaleTemps(dir)).toEqual([]);
    expect(await readdir(dir)).toEqual([path.basename(tmp)]);
  });
});
