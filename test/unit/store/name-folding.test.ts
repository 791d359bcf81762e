import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANY_TARGET, foldedClashes, foldedClashLines, probeNameFolding } from '../../../src/store/name-folding.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-unit-name-folding-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('foldedClashes', () => {
  it('pairs names one on a folding file system: case, NFC/NFD, ß/SS, the Kelvin sign, final sigma', () => {
    expect(foldedClashes(['h/Foo.iso', 'h/foo.iso', 'h/bar'])).toEqual([['h/Foo.iso', 'h/foo.iso']]);
    expect(foldedClashes(['caf\u00e9', 'cafe\u0301'])).toEqual([['caf\u00e9', 'cafe\u0301']]);
    expect(foldedClashes(['stra\u00dfe', 'STRASSE'])).toHaveLength(1);
    expect(foldedClashes(['\u212a.bin', 'k.bin'])).toHaveLength(1);
    expect(foldedClashes(['\u03a3\u0391\u03a3', '\u03c3\u03b1\u03c2'])).toHaveLength(1);
  });

  it('a file and a directory of its name in another case clash, either order; the same path twice, or a/x beside A/y, do not', () => {
    expect(foldedClashes(['Tools', 'tools/x'])).toEqual([['Tools', 'tools/x']]);
    expect(foldedClashes(['tools/x', 'Tools'])).toEqual([['tools/x', 'Tools']]);
    expect(foldedClashes(['a/x', 'a/x', 'A/y'])).toEqual([]);
    // Without folding, a file and a directory of one name are the exact checks' (MirrorTree): not reported here.
    expect(foldedClashes(['a', 'a/b'])).toEqual([]);
  });

  it('folds only what the target folds, and reports at most `max` pairs', () => {
    expect(foldedClashes(['A', 'a'], { caseInsensitive: false, normalizing: true })).toEqual([]);
    expect(foldedClashes(['caf\u00e9', 'cafe\u0301'], { caseInsensitive: true, normalizing: false })).toEqual([]);
    expect(foldedClashes(['A', 'a'], { caseInsensitive: false, normalizing: false })).toEqual([]);
    const many = Array.from({ length: 100 }, (_, i) => [`f${i}`, `F${i}`]).flat();
    expect(foldedClashes(many, ANY_TARGET, 20)).toHaveLength(20);
  });

  it('a path thousands of segments deep is placed segment by segment', () => {
    const deep = Array.from({ length: 1500 }, () => 'a').join('/');
    expect(foldedClashes([deep, deep.toUpperCase()])).toHaveLength(1);
  });
});

describe('probeNameFolding', () => {
  it('this test directory (tmpfs or ext4 without casefold) is case-sensitive and does not normalize; the probe leaves nothing', async () => {
    const empty = await mkdtemp(path.join(dir, 'probe-'));
    expect(await probeNameFolding(empty)).toEqual({ caseInsensitive: false, normalizing: false });
    expect(await readdir(empty)).toEqual([]);
  });

  it('a target directory not there yet is made and probed', async () => {
    const sub = path.join(dir, 'new', 'files');
    expect(await probeNameFolding(sub)).toEqual({ caseInsensitive: false, normalizing: false });
    expect(await readdir(sub)).toEqual([]);
  });

  it('a directory that cannot be made is unknown, and both foldings are assumed (import then refuses the pairs, saying why)', async () => {
    await writeFile(path.join(dir, 'plain'), 'a file\n');
    const f = await probeNameFolding(path.join(dir, 'plain', 'files'));
    expect(f).toMatchObject({ caseInsensitive: true, normalizing: true });
    expect(f.unknown).toMatch(/cannot make the directory/);
    expect(foldedClashLines(['A.tgz', 'a.tgz'], f, '/x')[0].line).toMatch(/could not probe.*taken to ignore case and Unicode normalization/);
  });

  it('on a case-insensitive target (as probed on macOS, Windows shares, ext4 casefold) import refuses the pair naming both', () => {
    const [c] = foldedClashLines(['pool/Foo.deb', 'pool/foo.deb'], { caseInsensitive: true, normalizing: false }, '/srv/apt');
    expect(c.paths).toEqual(['pool/Foo.deb', 'pool/foo.deb']);
    expect(c.line).toContain('"pool/Foo.deb" and "pool/foo.deb" are one name in /srv/apt, on a file system that ignores case');
  });
});
