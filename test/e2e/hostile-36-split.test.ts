import { copyFile, mkdir, mkdtemp, readdir, realpath, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapFileUrl } from '../../src/mapping/index.js';
import { fetchOutcome, startServe } from '../support/craft-serve.js';
import { startStaticServer, type StaticServer } from '../support/static-http.js';
import { differentialOfGood, expectServedWhole, swappedSplitBundle, untilSaid } from '../support/swapped-split.js';

/**
 * Hostile inputs, round 36, split bundles served by plain `ferry serve` (no --verify):
 *
 * 1. A differential bundle served with its split `--base` whose part 003 was swapped for the
 *    same-numbered part of another bundle of the same size: the base's parts are hashed in the
 *    background as the bundle's own are (before, only the served bundle's were): the warning
 *    names the part and the base, and the base's blob lying in it is refused from then on.
 * 2. A part renamed over on disk after serve started: serving and the check read the
 *    descriptors opened at start, so a blob already hashed whole is still served (whole or by
 *    range) with the bytes opened, and no check judges other bytes than those served. Before,
 *    read streams opened the part again by path: a range of a blob verified earlier was
 *    answered with the newcomer's bytes, unchecked.
 */
let work: string;
let files: StaticServer;
let split: Awaited<ReturnType<typeof swappedSplitBundle>>;
let filePath: string;
let diff: string;
let extraPath: string;
const extraBytes = Buffer.from('the differential carries this file itself\n');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'ferry-e2e-hostile36-split-'));
  const srv = path.join(work, 'srv');
  await mkdir(srv);
  files = await startStaticServer(srv);
  split = await swappedSplitBundle(work, srv, files);
  filePath = `/files/${mapFileUrl(split.fileUrl, { baseUrl: 'http://x' }).path}`;
  // A differential against the good split bundle: its file is left out (the base carries it); one new file travels.
  const made = await differentialOfGood(split.good, split.parts[0], srv, files, extraBytes);
  diff = made.diff;
  extraPath = `/files/${mapFileUrl(made.extraUrl, { baseUrl: 'http://x' }).path}`;
}, 300_000);

afterAll(async () => {
  await files?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const re = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('a differential bundle served with a split --base whose part 003 was swapped', () => {
  it('warns naming part 003 of N of the base, then refuses the base blob lying in it, naming the part and the base; the bundle own file is served', { timeout: 60_000 }, async () => {
    const n = split.parts.length;
    const base = await realpath(path.join(split.mixed, split.parts[0]));
    const s = await startServe([diff, '--base', base, '--listen', '127.0.0.1:0']);
    try {
      await untilSaid(s, new RegExp(`part 003 of ${n}`));
      expect(s.stderr()).toMatch(new RegExp(`--base ${re(base)}: part 003 of ${n}: sha256 mismatch[^\\n]*copy ${re(split.parts[2])} again from the source`));
      const got = await fetchOutcome(`${s.url}${filePath}`);
      expect(got.status).toBe(500);
      expect(got.body?.toString('utf8')).toMatch(new RegExp(`lies in parts \\d{3}-\\d{3} of ${n} \\([^)]*\\) of the --base bundle ${re(base)}, and part 003 of ${n}: sha256 mismatch`));
      const extra = await fetchOutcome(`${s.url}${extraPath}`);
      expect(extra.status).toBe(200);
      expect(extra.body?.equals(extraBytes)).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  it('the untouched split base: no warning, the base file served whole', { timeout: 60_000 }, async () => {
    await expectServedWhole([diff, '--base', path.join(split.good, split.parts[0])], filePath);
  });
});

describe('a part of a served split bundle renamed over on disk after serve started', () => {
  it('serves the bytes it opened, whole and by range, and its check agrees: no part is said to mismatch', { timeout: 60_000 }, async () => {
    const dir = path.join(work, 'renamed');
    await mkdir(dir);
    for (const f of await readdir(split.good)) if (/\.(\d{3}|parts)$/.test(f)) await copyFile(path.join(split.good, f), path.join(dir, f));
    const s = await startServe([path.join(dir, split.parts[0]), '--listen', '127.0.0.1:0']);
    try {
      const whole = await fetchOutcome(`${s.url}${filePath}`);
      expect(whole.status).toBe(200);
      expect(whole.complete).toBe(true);
      const original = whole.body!;
      expect(original.length).toBe(300_000);
      // The other bundle's part 003 (same size, other bytes) renamed over the served one.
      await copyFile(path.join(split.mixed, split.parts[2]), path.join(dir, 'incoming'));
      await rename(path.join(dir, 'incoming'), path.join(dir, split.parts[2]));
      const ranged = await fetchOutcome(`${s.url}${filePath}`, { headers: { Range: 'bytes=1-299999' } });
      expect(ranged.status).toBe(206);
      expect(ranged.body?.equals(original.subarray(1))).toBe(true);
      const again = await fetchOutcome(`${s.url}${filePath}`);
      expect(again.status).toBe(200);
      expect(again.complete).toBe(true);
      expect(again.body?.equals(original)).toBe(true);
    } finally {
      expect(await s.stop()).toBe(0);
    }
    expect(s.stderr()).not.toMatch(/part \d{3} of|mismatch|warning/);
  });
});
