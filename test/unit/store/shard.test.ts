import { describe, expect, it } from 'vitest';
import type { Lock } from '../../../src/kinds/schema.js';
import { assignShards, parseShard, planShard } from '../../../src/store/shard.js';

const d = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;

function lockWith(sizes: number[]): Lock {
  return {
    apiVersion: 'ferry/v1alpha1',
    kind: 'Lock',
    manifest: { name: 'x', digest: d(0) },
    images: [
      { source: 'a', ref: 'r/a:1', digest: d(1000), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, manifests: [], blobs: sizes.slice(0, 3).map((s, i) => ({ mediaType: 'l', digest: d(i + 1), size: s })) },
      // Shares a blob with the first image: counted once.
      { source: 'b', ref: 'r/b:1', digest: d(1001), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, manifests: [], blobs: [{ mediaType: 'l', digest: d(1), size: sizes[0] }, ...sizes.slice(3).map((s, i) => ({ mediaType: 'l', digest: d(i + 4), size: s }))] },
    ],
    charts: [],
    files: [],
    apt: [],
  };
}

describe('shards', () => {
  it('parses i/n and refuses anything else', () => {
    expect(parseShard('2/4')).toEqual({ index: 2, count: 4 });
    for (const bad of ['0/4', '5/4', '2', '2/0', 'a/b', '-1/2']) expect(() => parseShard(bad), bad).toThrow(/--shard/);
  });

  it('greedy largest-first balances sizes; equal sizes go in key order', () => {
    const a = assignShards(
      [
        { key: 'c', size: 5 },
        { key: 'a', size: 10 },
        { key: 'b', size: 5 },
        { key: 'd', size: 1 },
      ],
      2,
    );
    expect(Object.fromEntries(a)).toEqual({ a: 1, b: 2, c: 2, d: 1 });
  });

  it('every blob lands in exactly one shard, the same on every host, whatever the input order', () => {
    const lock = lockWith([700, 300, 300, 200, 100, 100]);
    const plans = [1, 2, 3].map((i) => planShard(lock, { index: i, count: 3 }));
    expect(plans.reduce((s, p) => s + p.units, 0)).toBe(6);
    expect(plans.reduce((s, p) => s + p.bytes, 0)).toBe(plans[0].totalBytes);
    for (let n = 1; n <= 6; n++) expect(plans.filter((p) => p.mine(d(n))).length).toBe(1);
    expect(plans.map((p) => p.bytes)).toEqual([700, 500, 500]);
    const reversed = { ...lock, images: [...lock.images].reverse().map((i) => ({ ...i, blobs: [...i.blobs].reverse() })) };
    for (let i = 1; i <= 3; i++) {
      const again = planShard(reversed, { index: i, count: 3 });
      for (let n = 1; n <= 6; n++) expect(again.mine(d(n))).toBe(plans[i - 1].mine(d(n)));
    }
    // A digest the lock does not list (a manifest) is fetched by whoever needs it.
    expect(plans.every((p) => p.mine(d(999)))).toBe(true);
  });
});
