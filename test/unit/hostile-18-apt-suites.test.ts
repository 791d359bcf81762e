/**
 * Hostile pass 18, APT suite versions (src/kinds/apt/suite-version.ts): `dists/<suite>` is a
 * symlink to `dists/.<suite>.ferry/<id>`, switched by renaming `dists/<suite>.ferry-switch` over
 * it. Suite names come from the bundle.
 *
 * Fixed:
 * - A suite named like another suite's versions (`.stable.ferry`, `.stable.ferry/<id>`) was
 *   published over them: stable's versions moved aside as a "legacy" directory and
 *   `dists/stable` left dangling (or pointing at the crafted suite's content).
 * - A suite `stable.ferry-switch` was removed by every switch of `stable`.
 * - A suite segment of 242–255 bytes passed every check and failed midway (ENAMETOOLONG on
 *   `.<segment>.ferry`, after the pool was written), with no word of which suite.
 * - `dists/.stable.ferry` a symbolic link to a directory outside the tree: the new version was
 *   written there and everything else in it removed by the sweep. So was a version directory
 *   `dists/.stable.ferry/<id>` that is a link (written through when it was the current one).
 * Held (tested): `dists/<suite>` a symlink to outside the tree or to another suite's version is
 * replaced, never followed, and nothing is carried from it; a previous Release listing
 * `../../outside` carries nothing from there.
 * Accepted: the version id is 64 bits of the Release's SHA-256; a bundle author who finds two
 * Releases with one id (2^32 work) gets the second written into the first in place — no more than
 * publishing a broken suite, which that author can do anyway.
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { aptImportProblems } from '../support/apt-validation.js';
import { publishSuiteVersion, suiteVersions } from '../../src/kinds/apt/suite-version.js';

let work: string;
let root: string;
let outside: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-h18-apt-'));
  root = path.join(work, 'apt', 'deb.example.org', 'debian');
  outside = path.join(work, 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(outside, 'precious'), 'keep me');
  await mkdir(path.join(root, 'dists'), { recursive: true });
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const ID_A = 'aaaaaaaaaaaaaaaa';
const ID_B = 'bbbbbbbbbbbbbbbb';
const releaseWith = (text: string) => async (dir: string) => {
  await writeFile(path.join(dir, 'Release'), text);
  return text.length;
};
const publish = async (suite: string, id: string, text: string) => publishSuiteVersion(suiteVersions(root, suite, 'apt[evil]'), id, releaseWith(text));
const stableRelease = () => readFile(path.join(root, 'dists', 'stable', 'Release'), 'utf8');

describe('hostile-18: suite names that collide with ferry publishing', () => {
  it('a suite named like another suite versions directory is refused; that suite stays served', async () => {
    await publish('stable', ID_A, 'stable A');
    for (const evil of ['.stable.ferry', `.stable.ferry/${ID_A}`, 'main/.hidden']) {
      await expect(publish(evil, ID_B, 'evil')).rejects.toThrow(/apt\[evil\] suite .*a name ferry keeps for publishing suites/);
      expect(await stableRelease()).toBe('stable A');
      expect(await readdir(path.join(root, 'dists', '.stable.ferry'))).toEqual([ID_A]);
    }
  });

  it('a suite named like a switch in progress is refused (each switch of stable removed it)', async () => {
    await expect(publish('stable.ferry-switch', ID_B, 'evil')).rejects.toThrow(/a name ferry keeps for publishing suites/);
    await publish('stable', ID_A, 'stable A');
    expect(await stableRelease()).toBe('stable A');
  });

  it('a suite segment too long for its version directory name is refused, named, before anything is written', async () => {
    const long = 'x'.repeat(250);
    await expect(publish(`updates/${long}`, ID_A, 'x')).rejects.toThrow(/apt\[evil\] suite "updates\/x+…": a path segment longer than 200 bytes/);
    expect(await readdir(path.join(root, 'dists'))).toEqual([]);
    // Unicode and ordinary nesting are fine.
    await publish('bookworm/updates', ID_A, 'nested');
    await publish('trixie-ünïcode', ID_A, 'u');
    expect(await readFile(path.join(root, 'dists', 'trixie-ünïcode', 'Release'), 'utf8')).toBe('u');
  });
});

describe('hostile-18: what already sits in the target', () => {
  it('a versions directory that is a symlink outside the tree is refused: nothing written there, nothing swept', async () => {
    await symlink(outside, path.join(root, 'dists', '.stable.ferry'));
    await expect(publish('stable', ID_A, 'stable A')).rejects.toThrow(/\.stable\.ferry: not a directory \(a symbolic link or a file\) where ferry keeps the versions of stable/);
    expect(await readdir(outside)).toEqual(['precious']);
  });

  it('a current version directory that is a symlink outside the tree is not written through', async () => {
    await mkdir(path.join(root, 'dists', '.stable.ferry'));
    await symlink(outside, path.join(root, 'dists', '.stable.ferry', ID_A));
    await symlink(`.stable.ferry/${ID_A}`, path.join(root, 'dists', 'stable'));
    await publish('stable', ID_A, 'stable A').catch(() => undefined);
    expect(await readdir(outside)).toEqual(['precious']);
  });

  it('held: dists/<suite> a symlink to outside, or to another suite version, is replaced, not followed', async () => {
    await publish('testing', ID_B, 'testing B');
    for (const to of [outside, `.testing.ferry/${ID_B}`]) {
      await rm(path.join(root, 'dists', 'stable'), { force: true, recursive: true });
      await symlink(to, path.join(root, 'dists', 'stable'));
      await publish('stable', ID_A, 'stable A');
      expect(await readlink(path.join(root, 'dists', 'stable'))).toBe(`.stable.ferry/${ID_A}`);
      expect(await stableRelease()).toBe('stable A');
      expect(await readdir(outside)).toEqual(['precious']);
      expect(await readFile(path.join(root, 'dists', 'testing', 'Release'), 'utf8')).toBe('testing B');
      await rm(path.join(root, 'dists', '.stable.ferry'), { recursive: true });
    }
  });

  it('held: a previous Release listing paths outside its version carries nothing from there', async () => {
    const secret = await readFile(path.join(outside, 'precious'));
    const h = createHash('sha256').update(secret).digest('hex');
    const rel = `Suite: stable\nSHA256:\n ${h} ${secret.length} ../../../../../outside/precious\n ${h} ${secret.length} main/../../../../../../outside/precious\n`;
    await publish('stable', ID_A, rel);
    await publish('stable', ID_B, 'stable B');
    const files: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await walk(path.join(d, e.name));
        else files.push(path.relative(root, path.join(d, e.name)));
      }
    };
    await walk(path.join(root, 'dists'));
    expect(files.sort()).toEqual([`dists/.stable.ferry/${ID_A}/Release`, `dists/.stable.ferry/${ID_B}/Release`, 'dists/stable']);
  });
});

describe('hostile-18: the suite guard runs at validation, before anything is written', () => {
  it('a bundle config naming .stable.ferry beside stable is a problem named by validateAptImport', async () => {
    const problems = await aptImportProblems(work, { name: 'evil', url: 'http://deb.example.org/debian', mode: 'whole', suites: [{ suite: 'stable' }, { suite: '.stable.ferry' }] });
    expect(problems).toMatch(/suite "\.stable\.ferry": a name ferry keeps for publishing suites/);
  });
});
