import { createHash } from 'node:crypto';
import { FerryError } from '../errors.js';

/**
 * Sharded builds (the command is commands/bundle-shard.ts): `bundle create --shard i/n --cache oci://…` fetches a deterministic share of
 * the lock into the shared cache and packs nothing; a plain `bundle create --cache oci://…`
 * after every shard packs from the cache alone. Every host computes the same assignment from
 * the same lock: image blobs one by one, every other lock entry (chart, file, APT repository)
 * whole; largest first, each into the least loaded shard (ties: the lower shard), equal sizes in
 * digest order. Image manifests (a few KB each) are read by every shard, through the cache.
 */

export interface ShardSpec {
  /** 1-based. */
  index: number;
  count: number;
}

export function parseShard(text: string): ShardSpec {
  const m = /^(\d{1,4})\/(\d{1,4})$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index < 1 || index > count) {
    throw new FerryError('USAGE', `--shard ${text}: must be <i>/<n> with 1 ≤ i ≤ n (e.g. 2/4)`, {
      hint: 'In a Kubernetes Indexed Job: --shard $((JOB_COMPLETION_INDEX+1))/<completions>.',
    });
  }
  return { index, count };
}

export interface ShardUnit {
  key: string;
  size: number;
}

/** key → shard (1-based): greedy, largest first into the least loaded bin, deterministic. */
export function assignShards(units: ShardUnit[], count: number): Map<string, number> {
  const sorted = [...units].sort((a, b) => b.size - a.size || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const load = new Array<number>(count).fill(0);
  const out = new Map<string, number>();
  for (const u of sorted) {
    if (out.has(u.key)) continue;
    let best = 0;
    for (let i = 1; i < count; i++) if (load[i] < load[best]) best = i;
    load[best] += u.size;
    out.set(u.key, best + 1);
  }
  return out;
}

const entryKey = (field: string, entry: unknown) => `${field}:${createHash('sha256').update(JSON.stringify(entry)).digest('hex')}`;

/** What planning needs of a lock: image blobs, and the other kinds' entry lists (any other array field). */
export interface ShardableLock {
  images: Array<{ blobs: Array<{ digest: string; size: number }> }>;
}

export interface ShardPlan<L extends ShardableLock> {
  /** The lock this shard fetches: every image (blobs filtered by `mine`), its share of the other entries. */
  lock: L;
  mine: (digest: string) => boolean;
  units: number;
  bytes: number;
  totalUnits: number;
  totalBytes: number;
}

export function planShard<L extends ShardableLock>(lock: L, spec: ShardSpec): ShardPlan<L> {
  const units: ShardUnit[] = [];
  for (const img of lock.images) for (const b of img.blobs) units.push({ key: b.digest, size: b.size });
  const fields = Object.entries(lock).filter(([f, v]) => f !== 'images' && Array.isArray(v)) as Array<[string, unknown[]]>;
  for (const [field, entries] of fields) {
    for (const e of entries) units.push({ key: entryKey(field, e), size: typeof (e as { size?: unknown }).size === 'number' ? (e as { size: number }).size : 0 });
  }
  const assigned = assignShards(units, spec.count);
  const filtered = { ...lock } as Record<string, unknown>;
  for (const [field, entries] of fields) filtered[field] = entries.filter((e) => assigned.get(entryKey(field, e)) === spec.index);
  const seen = new Set<string>();
  let mineUnits = 0;
  let mineBytes = 0;
  let totalBytes = 0;
  for (const u of units) {
    if (seen.has(u.key)) continue;
    seen.add(u.key);
    totalBytes += u.size;
    if (assigned.get(u.key) === spec.index) {
      mineUnits++;
      mineBytes += u.size;
    }
  }
  return {
    lock: filtered as unknown as L,
    // Digests the plan does not know (a manifest, a chart's own blobs) are fetched by whoever needs them.
    mine: (digest) => (assigned.get(digest) ?? spec.index) === spec.index,
    units: mineUnits,
    bytes: mineBytes,
    totalUnits: seen.size,
    totalBytes,
  };
}
