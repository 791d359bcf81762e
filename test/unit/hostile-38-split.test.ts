import { mkdir, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { splitBundle } from '../../src/commands/bundle-split.js';
import type { FerryError } from '../../src/errors.js';
import { copySplit, joinSplit, renameOver, useSwappedSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 38: what is checked is what is used, `ferry bundle split`.
 *
 * split checked its input by path (its tar header, its inode against the output's names), then
 * opened it by path again to copy it: a file renamed over the bundle in between was copied
 * unchecked (another bundle, or a non-tar). Now the file copied must be the one checked, and
 * its first bytes are a tar header. The window is made deterministic by wrapping requireSpaceFor
 * (vi.mock), which split calls after those checks and before the copy.
 */
const hook = vi.hoisted(() => ({ beforeCopy: undefined as undefined | (() => Promise<void>) }));
vi.mock('../../src/store/free-space.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/store/free-space.js')>();
  return {
    ...real,
    requireSpaceFor: async (...args: Parameters<typeof real.requireSpaceFor>) => {
      const before = hook.beforeCopy;
      hook.beforeCopy = undefined;
      await before?.();
      return real.requireSpaceFor(...args);
    },
  };
});


const setup = useSwappedSplit('ferry-hostile38-split');

let n = 0;
async function refused(input: string, out: string): Promise<FerryError> {
  const err = (await splitBundle(input, { splitSize: 100_000, output: out, cwd: setup.work }).then(
    () => undefined,
    (e: unknown) => e,
  )) as FerryError | undefined;
  expect(hook.beforeCopy, 'renamed over after the checks').toBeUndefined();
  expect(err, 'split copied a file renamed over the bundle it had checked').toBeDefined();
  expect(await readdir(path.dirname(out))).toEqual([]);
  return err!;
}

describe('bundle split copies the file it checked', () => {
  it('one tar checked, another bundle renamed over it before the copy: refused, nothing written', { timeout: 60_000 }, async () => {
    const dir = path.join(setup.work, `case-${++n}`);
    await mkdir(path.join(dir, 'out'), { recursive: true });
    const bundle = await joinSplit(setup.split.good, path.join(dir, 'app.ferry.tar'));
    const other = await joinSplit(setup.split.other, path.join(dir, 'other.tar'));
    hook.beforeCopy = () => renameOver(other, bundle);
    const err = await refused(bundle, path.join(dir, 'out', 'app.ferry.tar'));
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(/app\.ferry\.tar: another file now \(renamed over it after it was checked\).*nothing was written/);
  });

  it('a part of a split bundle renamed over by an equal-size part of another bundle: refused naming it, nothing written (held before too: each part is hashed against its .parts list as it is copied)', { timeout: 60_000 }, async () => {
    const dir = path.join(setup.work, `case-${++n}`);
    await mkdir(path.join(dir, 'out'), { recursive: true });
    const first = await copySplit(setup.split.good, path.join(dir, 'in'));
    hook.beforeCopy = () => renameOver(path.join(setup.split.other, setup.split.parts[2]), path.join(dir, 'in', setup.split.parts[2]));
    const err = await refused(first, path.join(dir, 'out', 'app.ferry.tar'));
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(new RegExp(`part 003 of ${setup.split.parts.length} \\(${setup.split.parts[2].replace(/\./g, '\\.')}\\): `));
  });

  it('one tar checked, its first block overwritten in place (same file) before the copy: refused as no tar, nothing written', { timeout: 60_000 }, async () => {
    const dir = path.join(setup.work, `case-${++n}`);
    await mkdir(path.join(dir, 'out'), { recursive: true });
    const bundle = await joinSplit(setup.split.good, path.join(dir, 'app.ferry.tar'));
    hook.beforeCopy = async () => {
      const fh = await open(bundle, 'r+');
      await fh.write(Buffer.alloc(512, 0x41), 0, 512, 0);
      await fh.close();
    };
    const err = await refused(bundle, path.join(dir, 'out', 'app.ferry.tar'));
    expect(err.code).toBe('USAGE');
    expect(err.message).toMatch(/app\.ferry\.tar: not a tar archive/);
  });

  it('untouched, both split again', { timeout: 60_000 }, async () => {
    const dir = path.join(setup.work, `case-${++n}`);
    await mkdir(path.join(dir, 'out'), { recursive: true });
    const bundle = await joinSplit(setup.split.good, path.join(dir, 'app.ferry.tar'));
    const r = await splitBundle(bundle, { splitSize: 100_000, output: path.join(dir, 'out', 'one.ferry.tar'), cwd: setup.work });
    expect(r.parts.length).toBe(Math.ceil(r.size / 100_000));
    const s = await splitBundle(await copySplit(setup.split.good, path.join(dir, 'in')), { splitSize: 100_000, output: path.join(dir, 'out', 'two.ferry.tar'), cwd: setup.work });
    expect(s.size).toBe(r.size);
  });
});
