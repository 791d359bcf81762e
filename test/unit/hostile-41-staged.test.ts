import { createHash } from 'node:crypto';
import { renameSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { importBundle } from '../../src/commands/import.js';
import { silentProgress } from '../../src/ui/progress.js';
import { clearFsHooks, fired, firstIncludes, fsHook } from '../support/fs-hooks.js';
import { filesSite, useJoinedGoodSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 41: `ferry import` into a files directory places each staged copy (a hard
 * link under a temporary name, renamed to the final name). It checked the final name's path for
 * links leading outside the target, then linked and renamed by path: a directory swapped for a link
 * to outside in between (another local user) had the verified file placed outside the target. The
 * window is made deterministic by wrapping the link call (vi.mock of node:fs/promises): the
 * wrapper swaps the directory just before the staged copy is linked.
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const joined = useJoinedGoodSplit('ferry-hostile41-staged');
const setup = joined.setup;
afterEach(clearFsHooks);

const site = () => filesSite(setup);

const importOnePass = (target: string) => importBundle(joined.bundle, { target, progress: silentProgress, cwd: setup.work });

/** Every file under `d`, relative. */
async function filesUnder(d: string): Promise<string[]> {
  return (await readdir(d, { recursive: true, withFileTypes: true })).filter((e) => !e.isDirectory()).map((e) => path.relative(d, path.join(e.parentPath, e.name)));
}

describe('import into a files directory: the final directory swapped for a link between the check and the placing', () => {
  it('swapped just before the staged copy is linked: nothing placed outside the target; the file is in the directory that was checked; the link is named', { timeout: 60_000 }, async () => {
    const s = await site();
    const outside = path.join(s.dir, 'outside');
    await mkdir(outside);
    const destDir = path.dirname(s.landed);
    expect(destDir, 'the file lands in a subdirectory of the files directory').not.toBe(s.filesDir);
    const swap = fsHook({
      call: 'link',
      match: firstIncludes('.ferry-staged-'),
      run: async () => {
        renameSync(destDir, `${destDir}.moved`);
        await symlink(outside, destDir);
      },
    });
    const err = await importOnePass(s.target).then(
      () => undefined,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(fired(swap), 'the window was taken').toBe(true);
    expect(await filesUnder(outside), 'the verified file was placed through the link, outside the target').toEqual([]);
    // What the import writes there next (the checksum beside the file) meets the link by its path: refused, naming it.
    expect(err?.code).toBe('CONFLICT');
    expect(err!.message).toContain(`${destDir}: a symbolic link (to ${JSON.stringify(outside)}) inside the target directory ${s.filesDir} leads outside it`);
    // Placed in the directory that was checked and held (moved aside by the other user, still inside the target).
    expect(sha(await readFile(path.join(`${destDir}.moved`, path.basename(s.landed))))).toBe(joined.goodSum);
    expect((await lstat(destDir)).isSymbolicLink()).toBe(true);
    expect((await readdir(s.filesDir)).filter((f) => f.startsWith('.ferry-')), 'nothing staged is left').toEqual([]);
  });

  it('clean: placed under its final name, nothing staged left', { timeout: 60_000 }, async () => {
    const s = await site();
    const r = await importOnePass(s.target);
    expect(r.pushed).toBe(1);
    expect(sha(await readFile(s.landed))).toBe(joined.goodSum);
    expect((await readdir(s.filesDir)).filter((f) => f.startsWith('.ferry-'))).toEqual([]);
  });
});
