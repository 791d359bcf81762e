import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { importBundle } from '../../src/commands/import.js';
import { silentProgress } from '../../src/ui/progress.js';
import { filesSite, renameOver, useJoinedGoodSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 39: what is checked is what is used, `ferry import` into a directory
 * target (one pass). Each file is staged in the target directory under a temporary name, hashed
 * as it is written; the verify pass reads the rest of the bundle; then the staged copy is placed
 * (linked, renamed to its final name). The staged copy was placed by path: one renamed over, or
 * written into, during the verify pass (another user of a shared directory) was placed as the
 * verified file. The window is made deterministic by wrapping the verify pass (vi.mock of its
 * module): the wrapper changes the staged copy.
 */
const hook = vi.hoisted(() => ({ afterVerify: undefined as undefined | (() => Promise<void>) }));
vi.mock('../../src/commands/bundle-verify.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/commands/bundle-verify.js')>();
  return {
    ...real,
    verifyBundle: async (...args: Parameters<typeof real.verifyBundle>) => {
      const report = await real.verifyBundle(...args);
      const after = hook.afterVerify;
      hook.afterVerify = undefined;
      await after?.();
      return report;
    },
  };
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const joined = useJoinedGoodSplit('ferry-hostile39-staged');
const setup = joined.setup;

const site = () => filesSite(setup);

/** The one staged copy in `dir` (`.ferry-staged-<hex>.ferry-<tail>.tmp`). */
async function stagedIn(dir: string): Promise<string> {
  const names = (await readdir(dir)).filter((f) => f.startsWith('.ferry-staged-'));
  expect(names, 'one staged copy waits for the verify pass').toHaveLength(1);
  expect(names[0]).toContain(joined.goodSum);
  return path.join(dir, names[0]);
}

const importOnePass = (target: string) => importBundle(joined.bundle, { target, progress: silentProgress, cwd: setup.work });

describe('import into a files directory: the staged copy changed between its hash and its placing', () => {
  it('renamed over during the verify pass (another file, same size): refused, naming it; nothing placed', { timeout: 60_000 }, async () => {
    const s = await site();
    let swapped = '';
    hook.afterVerify = async () => {
      swapped = await stagedIn(s.filesDir);
      const other = path.join(s.dir, 'other.bin');
      const size = (await stat(swapped)).size;
      await writeFile(other, Buffer.alloc(size, 0x41));
      await renameOver(other, swapped);
    };
    const err = await importOnePass(s.target).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string; hint?: string },
    );
    expect(hook.afterVerify, 'the verify pass ran and the staged copy was renamed over').toBeUndefined();
    expect(err, 'import placed a file it never hashed').toBeDefined();
    expect(err!.code).toBe('CONFLICT');
    expect(err!.message).toContain(swapped);
    expect(err!.message).toMatch(/was replaced by another file before it was placed at .*; it was not placed/);
    expect(err!.hint).toMatch(/import again/);
    expect(await lstat(s.landed).then(() => true, () => false), 'nothing under the final name').toBe(false);
  });

  it('written into in place during the verify pass (same size, same inode): refused; nothing placed', { timeout: 60_000 }, async () => {
    const s = await site();
    hook.afterVerify = async () => {
      const staged = await stagedIn(s.filesDir);
      const size = (await stat(staged)).size;
      // A later write (another tick of the file system's clock than the staging write's).
      await new Promise((r) => setTimeout(r, 50));
      await writeFile(staged, Buffer.alloc(size, 0x42), { flag: 'r+' });
    };
    await expect(importOnePass(s.target)).rejects.toThrow(/was written into before it was placed/);
    expect(hook.afterVerify).toBeUndefined();
    expect(await lstat(s.landed).then(() => true, () => false)).toBe(false);
  });

  it('clean: the staged copy waits owner-only (0600); the placed file is the verified one with the mode a plain write gives', { timeout: 60_000 }, async () => {
    const s = await site();
    let mode = -1;
    hook.afterVerify = async () => {
      mode = (await stat(await stagedIn(s.filesDir))).mode & 0o777;
    };
    const r = await importOnePass(s.target);
    expect(r.pushed).toBe(1);
    expect(mode, 'nobody else may open the staged copy to write into it').toBe(0o600);
    expect(sha(await readFile(s.landed))).toBe(joined.goodSum);
    const umask = process.umask();
    expect((await stat(s.landed)).mode & 0o777).toBe(0o666 & ~umask);
    expect((await readdir(s.filesDir)).filter((f) => f.startsWith('.ferry-')), 'nothing staged is left').toEqual([]);
  });
});
