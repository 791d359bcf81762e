import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { openBundleFile, readPartList } from '../../src/store/split-file.js';

/**
 * A bundle path or a split bundle's list of parts that is a FIFO (put in place of the file by
 * whoever delivered it): refused at once. Before, opening or reading it waited for a writer
 * forever. Parts themselves that are FIFOs, or named `../x`, or listed twice, or 100 000 of
 * them, were already refused (below, so that it stays so).
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile4-split-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const hex64 = 'a'.repeat(64);
const fifo = (name: string) => {
  const f = path.join(dir, name);
  execFileSync('mkfifo', [f]);
  return f;
};

describe('FIFOs and crafted lists of parts', () => {
  it('a bundle that is a FIFO is refused at once, not waited on', async () => {
    const err = (await openBundleFile(fifo('pipe.ferry.tar')).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toMatch(/pipe\.ferry\.tar: not a regular file \(a FIFO, socket or device\); refusing to read it as a bundle/);
  });

  it('a .parts list that is a FIFO is refused at once, not waited on', async () => {
    await writeFile(path.join(dir, 'p.ferry.tar.001'), 'x');
    await writeFile(path.join(dir, 'p.ferry.tar.002'), 'y');
    fifo('p.ferry.tar.parts');
    const err = (await openBundleFile(path.join(dir, 'p.ferry.tar.001')).catch((e: unknown) => e)) as FerryError;
    expect(err).toBeInstanceOf(FerryError);
    expect(err.message).toMatch(/p\.ferry\.tar\.parts: not a regular file; refusing to read it as the list of parts/);
  });

  it('already safe: a part that is a FIFO counts as missing (never opened)', async () => {
    await writeFile(path.join(dir, 'q.ferry.tar.001'), 'x');
    fifo('q.ferry.tar.002');
    await writeFile(path.join(dir, 'q.ferry.tar.parts'), `${hex64}  q.ferry.tar.001\n${hex64}  q.ferry.tar.002\n`);
    const { problems } = await readPartList(path.join(dir, 'q.ferry.tar'));
    expect(problems.map((p) => p.message)).toEqual(['part 002 of 2: q.ferry.tar.002 is missing']);
  });

  it('already safe: parts named ../x, a part listed twice, and 100 000 parts are refused from the list alone', async () => {
    const tar = path.join(dir, 'r.ferry.tar');
    for (const [text, why] of [
      [`${hex64}  ../r.ferry.tar.001\n`, /line 1: expected "<sha256>  r\.ferry\.tar\.001"/],
      [`${hex64}  r.ferry.tar.001\n${hex64}  r.ferry.tar.001\n`, /line 2: expected "<sha256>  r\.ferry\.tar\.002"/],
      [Array.from({ length: 100_000 }, (_, i) => `${hex64}  r.ferry.tar.${i + 1}\n`).join('').slice(0, 1024 * 1024), /lists \d+ parts \(expected 1 to 999\)/],
    ] as const) {
      await writeFile(`${tar}.parts`, text);
      const err = (await readPartList(tar).catch((e: unknown) => e)) as FerryError;
      expect(err).toBeInstanceOf(FerryError);
      expect(err.message).toMatch(why);
    }
  });
});
