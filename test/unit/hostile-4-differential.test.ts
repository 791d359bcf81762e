import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError } from '../../src/errors.js';
import { BundleReader } from '../../src/store/bundle-reader.js';
import { differentialServeSource, readDifferential, DIFFERENTIAL_FILE } from '../../src/store/differential.js';
import { TAR_END, tarHeader, tarPadding } from '../../src/store/tar-index.js';

/**
 * Crafted `ferry/differential.json` (the list of blobs a differential bundle expects from its
 * base) and bases that are not what the differential needs.
 */
const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const BASE = { kind: 'bundle', name: 'base.ferry.tar', digest: `sha256:${'1'.repeat(64)}` };

/** A DifferentialSource holding just differential.json. */
const source = (text: string) => ({
  path: '/b/diff.ferry.tar',
  entry: (name: string) => (name === DIFFERENTIAL_FILE ? { size: text.length } : undefined),
  readFile: async () => Buffer.from(text),
});

async function refusal(text: string): Promise<FerryError> {
  const err = (await readDifferential(source(text)).catch((e: unknown) => e)) as FerryError;
  expect(err).toBeInstanceOf(FerryError);
  expect(err.code).toBe('VERIFY');
  expect(err.message).toMatch(/^\/b\/diff\.ferry\.tar: ferry\/differential\.json: /);
  return err;
}

describe('a crafted list of blobs expected from the base', () => {
  it('an entry nested 100 000 lists deep is refused by its place, without overflowing the stack', async () => {
    const d = 100_000;
    const err = await refusal(`{"base":${JSON.stringify(BASE)},"omitted":[${'['.repeat(d)}${']'.repeat(d)}]}`);
    expect(err.message).toMatch(/omitted\[0\] is not \{ digest: sha256:<64 hex>, size: <bytes> \}/);
  });

  it('a digest listed twice (with two sizes) is refused', async () => {
    const o = { digest: `sha256:${'a'.repeat(64)}`, size: 5 };
    const err = await refusal(JSON.stringify({ base: BASE, omitted: [o, { ...o, size: 6 }] }));
    expect(err.message).toMatch(/omitted\[1\]: sha256:a{64} is listed twice \(5 and 6 bytes\)/);
  });

  it('sizes that add up past 2^53 are refused (the bytes expected would be reported wrong)', async () => {
    const omitted = ['a', 'b'].map((c) => ({ digest: `sha256:${c.repeat(64)}`, size: 2 ** 53 - 2 }));
    const err = await refusal(JSON.stringify({ base: BASE, omitted }));
    expect(err.message).toMatch(/sizes add up past 2\^53 bytes at omitted\[1\]/);
  });

  it('a base reference list past a bundle bound, or a base name no file can have, is refused (import looks each one up)', async () => {
    const many = await refusal(JSON.stringify({ base: BASE, omitted: [], baseRefs: Array.from({ length: 90_001 }, (_, i) => `r/${i}:1`) }));
    expect(many.message).toMatch(/baseRefs is not a list of at most 90000 references/);
    const name = await refusal(JSON.stringify({ base: { ...BASE, name: 'x'.repeat(100_000) }, omitted: [] }));
    expect(name.message).toMatch(/base must be .*at most 255 characters/);
  });
});

// ---------------------------------------------------------------------------------------------

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'ferry-hostile4-diff-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A small bundle: its blobs and files; returns its path and the digest a differential names it by. */
async function bundle(name: string, blobs: Buffer[], extra: Record<string, string> = {}): Promise<{ file: string; digest: string }> {
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['ferry/bundle.json', Buffer.from('{"formatVersion":1,"ferryVersion":"0.1.0","manifestName":"x"}')],
    ['ferry/lock.json', Buffer.from(JSON.stringify({ apiVersion: 'ferry/v1alpha1', kind: 'Lock', manifest: { name: 'x', digest: `sha256:${'0'.repeat(64)}` }, images: [] }))],
    ...Object.entries(extra).map(([k, v]) => [k, Buffer.from(v)] as [string, Buffer]),
    ...blobs.map((b) => [`blobs/sha256/${hex(b)}`, b] as [string, Buffer]),
    ['index.json', Buffer.from('{"schemaVersion":2,"manifests":[]}')],
  ]);
  const sums = Buffer.from(
    [...files]
      .map(([k, b]) => `${hex(b)}  ${k}\n`)
      .sort()
      .join(''),
  );
  files.set('ferry/checksums.sha256', sums);
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat([...[...files].flatMap(([k, b]) => [tarHeader(k, b.length, 'file'), b, tarPadding(b.length)]), TAR_END]));
  return { file, digest: `sha256:${hex(sums)}` };
}

const differential = (base: { digest: string }, omitted: Buffer[]) => ({
  [DIFFERENTIAL_FILE]: JSON.stringify({ base: { kind: 'bundle', name: 'base.ferry.tar', digest: base.digest }, omitted: omitted.map((b) => ({ digest: `sha256:${hex(b)}`, size: b.length })) }),
});

async function serveRefusal(diffFile: string, baseFile: string): Promise<FerryError> {
  const reader = await BundleReader.open(diffFile);
  try {
    const r = await differentialServeSource(reader, baseFile).catch((e: unknown) => e);
    if (!(r instanceof Error)) await (r as { close(): Promise<void> }).close();
    expect(r).toBeInstanceOf(FerryError);
    return r as FerryError;
  } finally {
    await reader.close();
  }
}

describe('serve --base with a base that cannot answer for what the differential left out', () => {
  const layer = Buffer.from('a layer the differential left out\n');

  it('a base (the right one by its checksums) that lacks a blob the differential expects from it: refused before serving, naming the blob', async () => {
    const base = await bundle('base-lacking.tar', [Buffer.from('something else')]);
    const diff = await bundle('diff-1.tar', [], differential(base, [layer]));
    const err = await serveRefusal(diff.file, base.file);
    expect(err.code).toBe('VERIFY');
    expect(err.message).toMatch(/--base .*base-lacking\.tar: lacks 1 of the 1 blobs .*diff-1\.tar left out; nothing was served/);
    expect(err.details).toEqual([`sha256:${hex(layer)} (${layer.length} bytes): not in the base`]);
  });

  it('a differential chained on a differential: the base is itself a differential that left the blob out too; refused, saying so', async () => {
    const root = await bundle('root.tar', [layer]);
    const middle = await bundle('middle.tar', [], differential(root, [layer]));
    const top = await bundle('top.tar', [], differential(middle, [layer]));
    const err = await serveRefusal(top.file, middle.file);
    expect(err.message).toMatch(/\(the base is itself a differential bundle\)/);
    expect(err.hint).toMatch(/against a full base/);
  });

  it('the base it was made against, holding the blob: served from there', async () => {
    const root = await bundle('root-ok.tar', [layer]);
    const diff = await bundle('diff-ok.tar', [], differential(root, [layer]));
    const reader = await BundleReader.open(diff.file);
    try {
      const s = await differentialServeSource(reader, root.file);
      expect(await s.source.blobSize(`sha256:${hex(layer)}`)).toBe(layer.length);
      await s.close();
    } finally {
      await reader.close();
    }
  });
});
