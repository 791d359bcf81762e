/**
 * Hostile pass 18, cache locks and temp files on a shared volume (src/store/pid-lock.ts,
 * temp-files.ts). Another container writes the same cache directory: what sits at a lock path,
 * or carries a temp file's name, is not necessarily ferry's.
 *
 * - A FIFO at the lock path: its open waited for a writer for ever (the lock's readFile), so a
 *   `bundle create` or a blob fetch hung with no message. Now it is read without blocking, judged
 *   by age like an empty lock: taken over once stale, a busy error while fresh.
 * - A symbolic link at the lock path (to /dev/zero: a readFile that ends only at 2 GiB, then again
 *   and again): not followed; judged by the link's own age.
 * - A huge lock file: only its first bytes are read (no ferry lock is longer than 30 bytes).
 * - A directory at the lock path: the unreadable lock was "removed meanwhile" for ever (a busy
 *   loop at full CPU); now refused, named.
 * - A directory named like a dead writer's temp file (`x.ferry-999999-0a0b0c0d.tmp/`, which a
 *   crafted bundle's file titles can create in a target): the sweep's rm refused it (EISDIR) and
 *   every later write in that directory failed; now it is left alone.
 * Held (no change): crafted contents (`1 nzzzzzzzz`, `-5`, binary) parse as no pid and are judged
 * by age; temp names of another namespace are judged by age (a day), never by pid.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { unblockFifo } from '../support/fifo.js';
import { LOCK_STALE_MS, withPidLock } from '../../src/store/pid-lock.js';
import { sweepStaleTemps } from '../../src/store/temp-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-h18-locks-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const old = new Date(Date.now() - LOCK_STALE_MS - 60_000);
const busy = (pid: number) => new Error(`busy ${pid}`);

describe('hostile-18: what sits at a cache lock path', () => {
  it('a fresh FIFO at the lock path is a busy lock, not a read that waits for ever', async () => {
    const lock = path.join(dir, 'blob.lock');
    execFileSync('mkfifo', [lock]);
    const timer = setTimeout(() => unblockFifo(lock), 8000);
    try {
      await expect(withPidLock(lock, busy, async () => 'ran')).rejects.toThrow(/^busy 0$/);
    } finally {
      clearTimeout(timer);
    }
  }, 5000);

  it('a stale FIFO at the lock path is taken over; the lock is then ours and released', async () => {
    const lock = path.join(dir, 'blob.lock');
    execFileSync('mkfifo', [lock]);
    await utimes(lock, old, old);
    const timer = setTimeout(() => unblockFifo(lock), 8000);
    try {
      expect(await withPidLock(lock, busy, async () => (await readFile(lock, 'utf8')).split(' ')[0])).toBe(String(process.pid));
    } finally {
      clearTimeout(timer);
    }
    expect(await readdir(dir)).toEqual([]);
  }, 5000);

  it('a symbolic link to /dev/zero at the lock path is not followed: judged by its own age, replaced, the device untouched', async () => {
    const lock = path.join(dir, 'bundle.tar.lock');
    await symlink('/dev/zero', lock);
    await expect(withPidLock(lock, busy, async () => 'ran')).rejects.toThrow(/^busy 0$/);
    await rm(lock);
    await symlink('/dev/zero', lock);
    // The link's own times (utimes would follow it to the device).
    execFileSync('touch', ['-h', '-d', old.toISOString(), lock]);
    expect(await withPidLock(lock, busy, async () => 'ran')).toBe('ran');
    expect(await readdir(dir)).toEqual([]);
  });

  it('a huge lock file is read only as far as a lock can be long', async () => {
    const lock = path.join(dir, 'big.lock');
    await writeFile(lock, Buffer.alloc(8 * 1024 * 1024, 0x31));
    await utimes(lock, old, old);
    expect(await withPidLock(lock, busy, async () => 'ran')).toBe('ran');
    expect(await readdir(dir)).toEqual([]);
  });

  it('crafted contents (no pid, negative, bad namespace, binary) are judged by age, never by a pid', async () => {
    for (const text of ['1 nzzzzzzzz', '-5', '\u0000\u00ff\u001b[2J', `${process.pid + 1} n12345678 extra`]) {
      const lock = path.join(dir, 'c.lock');
      await writeFile(lock, text);
      await expect(withPidLock(lock, busy, async () => 'ran')).rejects.toThrow(/^busy 0$/);
      await utimes(lock, old, old);
      expect(await withPidLock(lock, busy, async () => 'ran')).toBe('ran');
    }
  });

  it('a directory at the lock path is refused, named (it was a busy loop that never ended)', async () => {
    const lock = path.join(dir, 'd.lock');
    await mkdir(path.join(lock, 'inside'), { recursive: true });
    await expect(withPidLock(lock, 'wait', async () => 'ran')).rejects.toThrow(/d\.lock: a directory where ferry keeps a lock file/);
    expect(await readdir(lock)).toEqual(['inside']);
  }, 5000);
});

describe('hostile-18: the temp-file sweep', () => {
  it('a directory named like a dead writer temp file is left alone, and the sweep goes on', async () => {
    const crafted = path.join(dir, 'x.ferry-999999-0a0b0c0d.tmp');
    await mkdir(crafted);
    await writeFile(path.join(crafted, 'y'), 'kept');
    await writeFile(path.join(dir, 'z.ferry-999999-0a0b0c0e.tmp'), 'a dead writer');
    expect(await sweepStaleTemps(dir)).toEqual(['z.ferry-999999-0a0b0c0e.tmp']);
    expect(await readFile(path.join(crafted, 'y'), 'utf8')).toBe('kept');
  });
});
