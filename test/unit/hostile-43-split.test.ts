import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { splitBundle } from '../../src/commands/bundle-split.js';
import { FerryError } from '../../src/errors.js';

/**
 * hostile43: a split removes what an earlier split of its output left (`.partial` files, older
 * higher-numbered parts, gaps included) and replaces the `.parts` list. A directory planted under
 * one of those names made `rm` fail with a raw EISDIR, and for an older part past the new ones it
 * failed mid-commit: the new parts renamed into place, the old list gone, only `.parts.partial`
 * left, so the split just written could not be read. Such a directory is refused now before
 * anything is removed or written (a CONFLICT naming it). A FIFO there is removed, never opened.
 */

let dir: string;
let tar: string;
const SPLIT = 4096;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile43-split-'));
  const src = path.join(dir, 'src');
  await mkdir(src);
  await writeFile(path.join(src, 'payload.bin'), randomBytes(20_000));
  tar = path.join(dir, 'in.tar');
  execFileSync('tar', ['--format=ustar', '-b', '1', '-cf', tar, '-C', src, 'payload.bin']);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const names = async (out: string) => (await readdir(path.dirname(out))).sort();

describe('bundle split: a directory under the names of the output is refused before anything is touched', () => {
  for (const planted of ['app.ferry.tar.009', 'app.ferry.tar.003.partial', 'app.ferry.tar.parts', 'app.ferry.tar.parts.partial']) {
    it(`${planted} a directory`, async () => {
      const out = path.join(dir, `dir-${planted}`, 'app.ferry.tar');
      await mkdir(path.join(path.dirname(out), planted), { recursive: true });
      await writeFile(path.join(path.dirname(out), planted, 'keep'), 'mine');
      const before = await names(out);
      const err = await splitBundle(tar, { splitSize: SPLIT, output: out }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(FerryError);
      expect((err as FerryError).code).toBe('CONFLICT');
      expect((err as FerryError).message).toContain(`${planted} is a directory`);
      expect((err as FerryError).message).toContain('nothing was written');
      expect(await names(out)).toEqual(before);
      expect((await stat(path.join(path.dirname(out), planted, 'keep'))).isFile()).toBe(true);
    });
  }

  it('a FIFO as an older part and as a .partial: removed, never opened; the new split reads back', { timeout: 30_000 }, async () => {
    const out = path.join(dir, 'fifo', 'app.ferry.tar');
    await mkdir(path.dirname(out));
    execFileSync('mkfifo', [`${out}.009`, `${out}.002.partial`]);
    const r = await splitBundle(tar, { splitSize: SPLIT, output: out });
    expect(r.parts.length).toBe(6);
    expect(await names(out)).toEqual(['app.ferry.tar.001', 'app.ferry.tar.002', 'app.ferry.tar.003', 'app.ferry.tar.004', 'app.ferry.tar.005', 'app.ferry.tar.006', 'app.ferry.tar.parts']);
    expect(execFileSync('sha256sum', ['-c', 'app.ferry.tar.parts'], { cwd: path.dirname(out) }).toString()).toContain('app.ferry.tar.006: OK');
  });
});
