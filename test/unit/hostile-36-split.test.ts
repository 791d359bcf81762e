import { randomBytes } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBundleFile, openBundleOutput, SplitFile, type PartProblem } from '../../src/store/split-file.js';

/**
 * Hostile inputs, round 36: a split bundle's part renamed over on disk after the bundle was
 * opened. The background hash of the parts (serve) and every read of the bytes go through the
 * descriptors opened at start, so the check judges the bytes that are served, whichever of the
 * two files is the good one. Before, the check (and read streams) opened the parts again by
 * path and hashed the newcomer while the opened bundle's earlier reads came from the old file.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile36-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** `<dir>/<name>.001…` of `data`, 1024-byte parts. */
async function split(name: string, data: Buffer): Promise<string> {
  const out = path.join(dir, name);
  const w = await openBundleOutput(out, 1024);
  await w.write(data, 0, data.length, 0);
  await w.commit();
  return out;
}

async function streamed(f: { createReadStream(start: number, end: number): NodeJS.ReadableStream }, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of f.createReadStream(start, end)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function hashed(f: SplitFile): Promise<PartProblem[]> {
  const bad: PartProblem[] = [];
  await f.hashParts(new AbortController().signal, (p) => bad.push(p));
  return bad;
}

describe('a part renamed over after the split bundle was opened', () => {
  it('a good bundle, part 003 replaced on disk by another file: the check passes and every read returns the bytes opened', async () => {
    const data = randomBytes(5000);
    const tar = await split('good.tar', data);
    const f = await openBundleFile(`${tar}.001`);
    try {
      expect(f).toBeInstanceOf(SplitFile);
      const other = path.join(dir, 'other.003');
      await writeFile(other, randomBytes(1024));
      await rename(other, `${tar}.003`);
      expect(await hashed(f as SplitFile)).toEqual([]);
      expect((await streamed(f, 0, 4999)).equals(data)).toBe(true);
      const buf = Buffer.alloc(1024);
      let got = 0;
      while (got < 1024) got += (await f.read(buf, got, 1024 - got, 2048 + got)).bytesRead;
      expect(buf.equals(data.subarray(2048, 3072))).toBe(true);
      expect(f.readSync(buf, 0, 10, 2500)).toBe(10);
      expect(buf.subarray(0, 10).equals(data.subarray(2500, 2510))).toBe(true);
    } finally {
      await f.close();
    }
  });

  it('a bundle with a swapped part 003, the good part renamed over it after opening: the check still names part 003, which is what is served', async () => {
    const data = randomBytes(5000);
    const tar = await split('mixed.tar', data);
    const swapped = randomBytes(1024);
    await writeFile(`${tar}.003`, swapped);
    const f = await openBundleFile(`${tar}.001`);
    try {
      const good = path.join(dir, 'good.003');
      await writeFile(good, data.subarray(2048, 3072));
      await rename(good, `${tar}.003`);
      const bad = await hashed(f as SplitFile);
      expect(bad.map((p) => p.message)).toEqual([expect.stringMatching(/^part 003 of 5: sha256 mismatch \(mixed\.tar\.003 hashes to/)]);
      expect((await streamed(f, 2048, 3071)).equals(swapped)).toBe(true);
      expect((f as SplitFile).badPartIn(2100, 2200)?.message).toBe(bad[0].message);
    } finally {
      await f.close();
    }
  });
});
