import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withPidLock } from '../../../src/store/pid-lock.js';

/**
 * Releasing a lock removes it only while it is still ours: a holder that stalled past the stale
 * age (a job in another container sharing the cache) may have lost it to a new holder, whose lock
 * its unconditional removal used to delete, letting a third process in beside the second (review6).
 */
describe('withPidLock release', () => {
  it('leaves a lock another process took over while fn ran', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pid-lock-'));
    try {
      const file = path.join(dir, 'x.lock');
      const other = '4242 nabcdef01';
      await withPidLock(file, 'wait', async () => {
        // What a takeover leaves: the file now names another holder.
        await writeFile(file, other);
      });
      expect(await readFile(file, 'utf8')).toBe(other);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('removes its own lock when fn ends (and when it throws)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-pid-lock-'));
    try {
      const file = path.join(dir, 'x.lock');
      expect(await withPidLock(file, 'wait', async () => 7)).toBe(7);
      await expect(readFile(file)).rejects.toThrow(/ENOENT/);
      await expect(withPidLock(file, 'wait', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      await expect(readFile(file)).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
