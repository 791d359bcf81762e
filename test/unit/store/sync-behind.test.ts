import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SyncBehind } from '../../../src/store/sync-behind.js';

describe('SyncBehind', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-sync-behind-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('flushes in the background every so many bytes, one flush at a time, and syncs at the end', async () => {
    const fh = await open(path.join(dir, 'out'), 'w');
    let datasyncs = 0;
    let inFlight = 0;
    let maxInFlight = 0;
    const real = fh.datasync.bind(fh);
    // Each flush waits until the test lets it go: no timing involved.
    const gates: Array<() => void> = [];
    fh.datasync = async () => {
      datasyncs++;
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        await new Promise<void>((r) => gates.push(r));
        await real();
      } finally {
        inFlight--;
      }
    };
    const behind = new SyncBehind(fh, 1024);
    const chunk = Buffer.alloc(512, 1);
    for (let i = 0; i < 8; i++) {
      await fh.write(chunk, 0, chunk.length, i * 512);
      behind.wrote(chunk.length);
    }
    // 4 KiB written in 1 KiB steps while the first flush is still going: one flush, never two at once.
    expect(datasyncs).toBe(1);
    gates.shift()!();
    await behind.settle();
    await fh.write(chunk, 0, chunk.length, 4096);
    behind.wrote(1024);
    expect(datasyncs).toBe(2);
    gates.shift()!();
    await behind.sync();
    expect(maxInFlight).toBe(1);
    await fh.close();
    expect((await readFile(path.join(dir, 'out'))).length).toBe(4608);
  });

  it('reports a failed background flush at sync(): the file is not called durable', async () => {
    const fh = await open(path.join(dir, 'fails'), 'w');
    fh.datasync = () => Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const behind = new SyncBehind(fh, 10);
    behind.wrote(100);
    await behind.settle();
    await expect(behind.sync()).rejects.toThrow(/EIO/);
    await fh.close();
  });
});
