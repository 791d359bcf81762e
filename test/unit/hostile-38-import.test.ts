import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { importBundle } from '../../src/commands/import.js';
import { mapFileUrl } from '../../src/mapping/index.js';
import { silentProgress } from '../../src/ui/progress.js';
import { copySplit, joinSplit, renameOver, useSwappedSplit } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 38: what is checked is what is used, `ferry import --verify-first`.
 *
 * The verify pass opened the bundle by path, then import opened it again to import: a bundle (or
 * a part of a split one) renamed over in between was imported unverified. The window is made
 * deterministic by wrapping the verify import calls (vi.mock of its module): the wrapper renames
 * another bundle over the one just verified. Now import opens the bundle once and validation,
 * verify and import read those descriptors, so what is imported is what was verified.
 */
const hook = vi.hoisted(() => ({ afterVerify: undefined as undefined | (() => Promise<void>), verified: 0 }));
vi.mock('../../src/commands/bundle-verify.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/commands/bundle-verify.js')>();
  return {
    ...real,
    verifyBundle: async (...args: Parameters<typeof real.verifyBundle>) => {
      const report = await real.verifyBundle(...args);
      hook.verified++;
      const after = hook.afterVerify;
      hook.afterVerify = undefined;
      await after?.();
      return report;
    },
  };
});

/** sha256 of the file the good bundle carries, and of the one the other bundle carries. */
let goodSum: string;
let otherSum: string;

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The sha256 the bundle made in `project` pins for its file (its manifest.yaml). */
const pinned = async (project: string) => /sha256: ([0-9a-f]{64})/.exec(await readFile(path.join(project, 'manifest.yaml'), 'utf8'))![1];

const setup = useSwappedSplit('ferry-hostile38-unit');

beforeAll(async () => {
  goodSum = await pinned(path.dirname(setup.split.good));
  otherSum = await pinned(path.dirname(setup.split.other));
  expect(goodSum).not.toBe(otherSum);
}, 300_000);

let n = 0;
/** A new directory with a files-only mirror target in it; returns the target and where the file lands. */
async function site(): Promise<{ dir: string; target: string; landed: string }> {
  const dir = path.join(setup.work, `case-${++n}`);
  await mkdir(dir);
  const target = path.join(dir, 'site.yaml');
  await writeFile(target, `apiVersion: ferry/v1alpha1\nkind: MirrorTarget\nmetadata: { name: site }\nfiles: { dir: ${dir}/files, baseUrl: https://files.example }\n`);
  return { dir, target, landed: path.join(dir, 'files', mapFileUrl(setup.split.fileUrl, { baseUrl: 'https://files.example' }).path) };
}

const importVerifyFirst = (bundle: string, target: string) => importBundle(bundle, { target, verifyFirst: true, progress: silentProgress, cwd: setup.work });

describe('import --verify-first: the bundle renamed over between the verify pass and the import', () => {
  it('one tar verified, another (valid, other content) renamed over it before the import: what is imported is the one verified', { timeout: 60_000 }, async () => {
    const s = await site();
    const bundle = await joinSplit(setup.split.good, path.join(s.dir, 'app.ferry.tar'));
    const other = await joinSplit(setup.split.other, path.join(s.dir, 'other.tar'));
    const before = hook.verified;
    hook.afterVerify = () => renameOver(other, bundle);
    const r = await importVerifyFirst(bundle, s.target);
    expect(hook.verified).toBe(before + 1);
    expect(hook.afterVerify, 'the verify pass ran and the bundle was renamed over').toBeUndefined();
    expect(r.pushed).toBe(1);
    expect(sha(await readFile(s.landed)), 'import wrote the file of a bundle it never verified').toBe(goodSum);
  });

  it('a split bundle verified, part 003 of another bundle renamed over its part 003 before the import: imported from the parts verified', { timeout: 60_000 }, async () => {
    const s = await site();
    const first = await copySplit(setup.split.good, path.join(s.dir, 'bundle'));
    hook.afterVerify = () => renameOver(path.join(setup.split.other, setup.split.parts[2]), path.join(path.dirname(first), setup.split.parts[2]));
    const r = await importVerifyFirst(first, s.target);
    expect(hook.afterVerify).toBeUndefined();
    expect(r.pushed).toBe(1);
    expect(sha(await readFile(s.landed))).toBe(goodSum);
  });

  it('without a rename, --verify-first and one pass both import the good bundle; the other bundle imports its own file', { timeout: 60_000 }, async () => {
    for (const [from, sum, verifyFirst] of [
      [setup.split.good, goodSum, true],
      [setup.split.good, goodSum, false],
      [setup.split.other, otherSum, true],
    ] as const) {
      const s = await site();
      const first = await copySplit(from, path.join(s.dir, 'bundle'));
      const r = await importBundle(first, { target: s.target, verifyFirst, progress: silentProgress, cwd: setup.work });
      expect(r.pushed).toBe(1);
      expect(sha(await readFile(s.landed))).toBe(sum);
    }
  });
});
