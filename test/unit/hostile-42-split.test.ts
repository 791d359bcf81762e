import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { splitBundle } from '../../src/commands/bundle-split.js';
import type { FerryError } from '../../src/errors.js';
import { verifyBundle } from '../../src/store/bundle-verify.js';
import { openBundleFile, openBundleOutput } from '../../src/store/split-file.js';
import { clearFsHooks, fired, firstEndsWith, fsHook, stopHere, type FsHook } from '../support/fs-hooks.js';

/**
 * Hostile inputs, round 42: what a split stopped before it finished (killed, the machine off)
 * leaves, and what comes next. `bundle split` and `bundle create --split-size` write parts as
 * `<out>.NNN.partial`, rename them at commit, remove an older split's higher-numbered parts and
 * write the `.parts` list last. Stopped mid-commit, they left new and old parts under final names
 * with no list: readers said only that the list was missing ("copy it along"), as if it had been
 * forgotten. A later, smaller split never removed a stopped run's higher-numbered `.partial` files,
 * nor older parts past a gap (a run stopped while removing them). Now the commit writes the new
 * list first as `<out>.parts.partial` (readers given the parts say the split was stopped while it
 * renamed them, and that they may be of two splits), and a later split removes every leftover of
 * its output (gaps included) and says so. The kill is made deterministic with a call that never
 * returns (vi.mock of node:fs/promises, test/support/fs-hooks.ts): the process stops there.
 */
vi.mock('node:fs/promises', async (importOriginal) => (await import('../support/fs-hooks.js')).hookedFsPromises(await importOriginal()));

let dir: string;
/** Two tars (real ones, `tar cf`), of 6 and of 3 parts of SPLIT bytes. */
let big: string;
let small: string;
const SPLIT = 4096;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile42-split-'));
  for (const [name, bytes] of [['big', 20_000], ['small', 6_000]] as const) {
    const src = path.join(dir, `${name}-src`);
    await mkdir(src);
    await writeFile(path.join(src, 'payload.bin'), randomBytes(bytes));
    execFileSync('tar', ['--format=ustar', '-b', '1', '-cf', path.join(dir, `${name}.tar`), '-C', src, 'payload.bin']);
  }
  big = path.join(dir, 'big.tar');
  small = path.join(dir, 'small.tar');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(clearFsHooks);

let n = 0;
/** A fresh output directory holding a complete split of `big` (6 parts) under app.ferry.tar. */
async function splitOfBig(): Promise<string> {
  const out = path.join(dir, `case-${++n}`, 'app.ferry.tar');
  await mkdir(path.dirname(out));
  const r = await splitBundle(big, { splitSize: SPLIT, output: out });
  expect(r.parts.length).toBe(6);
  return out;
}

/** `data` split at SPLIT under `out`, stopped (never returning) at the call `stop` names. */
async function stoppedSplit(out: string, data: Buffer, stop: Omit<FsHook, 'run'>): Promise<void> {
  const hook = fsHook({ ...stop, run: stopHere });
  const w = await openBundleOutput(out, SPLIT, data.length);
  await w.write(data, 0, data.length, 0);
  void w.commit();
  // The commit runs until the stopped call; everything before it has happened.
  for (let i = 0; i < 200 && !fired(hook); i++) await new Promise((r) => setTimeout(r, 5));
  expect(fired(hook), 'the split was stopped where the test says').toBe(true);
}

const names = async (out: string) => (await readdir(path.dirname(out))).filter((f) => f.startsWith(path.basename(out))).sort();

/** The whole tar a split bundle's name stands for, read as import and serve read it. */
async function readWhole(given: string): Promise<Buffer> {
  const f = await openBundleFile(given);
  try {
    const back = Buffer.alloc(f.size);
    for (let o = 0; o < f.size; ) o += (await f.read(back, o, f.size - o, o)).bytesRead;
    return back;
  } finally {
    await f.close();
  }
}

async function refusal(p: Promise<unknown>): Promise<FerryError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as FerryError,
  );
  expect(err, 'read as a bundle').toBeDefined();
  return err!;
}

describe('a split stopped while it renamed its parts into place', () => {
  it('readers given its parts say so (not "copy the list along"); a later smaller split replaces them all and says so', { timeout: 30_000 }, async () => {
    const out = await splitOfBig();
    const data = await readFile(small);
    await stoppedSplit(out, data, { call: 'rename', match: firstEndsWith('.002.partial') });
    // New 001, old 002…006, the new 002.partial and the new list's .partial: no list names them.
    expect(await names(out)).toContain('app.ferry.tar.002.partial');
    expect(await names(out)).not.toContain('app.ferry.tar.parts');

    for (const given of [`${out}.001`, out, `${out}.parts`]) {
      const err = await refusal(openBundleFile(given));
      expect(err.message, given).toContain(`${out}.parts is missing and app.ferry.tar.parts.partial is there: a split writing app.ferry.tar (bundle split or bundle create --split-size) was stopped while it renamed its parts into place`);
      expect(err.message).toMatch(/app\.ferry\.tar\.001 … app\.ferry\.tar\.006 \(6 files\) under final names may be of two splits, so nothing was read/);
      expect(err.hint).toMatch(/Run that split or create again/);
    }
    // bundle verify says the same.
    const verr = await refusal(verifyBundle(`${out}.001`));
    expect(verr.message).toContain('was stopped while it renamed its parts into place');
    // So does a split given it as its input.
    const serr = await refusal(splitBundle(`${out}.001`, { splitSize: SPLIT, output: path.join(path.dirname(out), 'again.tar') }));
    expect(serr.message).toContain('was stopped while it renamed its parts into place');

    // The user runs the split again: it starts over, replaces every name, and says what it found.
    const r = await splitBundle(small, { splitSize: SPLIT, output: out });
    expect(r.parts.length).toBe(2);
    expect(r.warnings.join('\n')).toContain(`removed app.ferry.tar.002.partial and app.ferry.tar.parts.partial, left by a split of app.ferry.tar (bundle split or bundle create --split-size) that did not finish`);
    expect(r.warnings.join('\n')).toContain(`${out}.parts was missing: app.ferry.tar.001 … app.ferry.tar.006 (6 files) were parts of a split that was stopped while it renamed them into place`);
    expect(await names(out)).toEqual(['app.ferry.tar.001', 'app.ferry.tar.002', 'app.ferry.tar.parts']);
    expect((await readWhole(out)).equals(data)).toBe(true);
  });

  it('stopped while removing an older split\'s higher-numbered parts (003 removed, 004 not): a later split removes them past the gap', { timeout: 30_000 }, async () => {
    const out = await splitOfBig();
    await stoppedSplit(out, await readFile(small), { call: 'rm', match: firstEndsWith('app.ferry.tar.004') });
    expect(await names(out)).toEqual(['app.ferry.tar.001', 'app.ferry.tar.002', 'app.ferry.tar.004', 'app.ferry.tar.005', 'app.ferry.tar.006', 'app.ferry.tar.parts.partial']);
    const r = await splitBundle(small, { splitSize: SPLIT, output: out });
    expect(r.parts.length).toBe(2);
    expect(await names(out), 'an older split\'s parts past the gap were left').toEqual(['app.ferry.tar.001', 'app.ferry.tar.002', 'app.ferry.tar.parts']);
    expect(r.warnings.join('\n')).toContain('app.ferry.tar.001 … app.ferry.tar.006 (5 files) were parts of a split that was stopped');
  });
});

describe('a split stopped while it wrote its parts', () => {
  it('a later smaller split removes its higher-numbered .partial files and says so; a reader says a split has not finished', { timeout: 30_000 }, async () => {
    const out = path.join(dir, `case-${++n}`, 'app.ferry.tar');
    await mkdir(path.dirname(out));
    const data = await readFile(big);
    // Written, never committed nor aborted: what a kill leaves.
    const w = await openBundleOutput(out, SPLIT, data.length);
    await w.write(data, 0, data.length, 0);
    expect(await names(out)).toEqual([1, 2, 3, 4, 5, 6].map((i) => `app.ferry.tar.00${i}.partial`));

    const err = await refusal(openBundleFile(out));
    expect(err.message).toContain(`${out}.parts is missing and app.ferry.tar.001.partial … app.ferry.tar.006.partial (6 files) are there: a split writing app.ferry.tar has not finished, or was stopped before it renamed its parts into place; nothing was read`);

    const r = await splitBundle(small, { splitSize: SPLIT, output: out });
    expect(r.parts.length).toBe(2);
    expect(await names(out), 'a killed run\'s higher-numbered .partial files stayed').toEqual(['app.ferry.tar.001', 'app.ferry.tar.002', 'app.ferry.tar.parts']);
    expect(r.warnings).toEqual([`${path.dirname(out)}: removed app.ferry.tar.001.partial … app.ferry.tar.006.partial (6 files), left by a split of app.ferry.tar (bundle split or bundle create --split-size) that did not finish; this run wrote its parts anew`]);
    await w.abort(); // the stopped writer's last part is still open in this process
  });

  it('clean: a split over a complete earlier one replaces it without a word, and its old higher-numbered parts are gone', { timeout: 30_000 }, async () => {
    const out = await splitOfBig();
    const r = await splitBundle(small, { splitSize: SPLIT, output: out });
    expect(r.warnings).toEqual([]);
    expect(await names(out)).toEqual(['app.ferry.tar.001', 'app.ferry.tar.002', 'app.ferry.tar.parts']);
    expect((await readWhole(`${out}.parts`)).equals(await readFile(small))).toBe(true);
  });
});
